"""The orders example in a real process, driven only through its generated client.

`bastion gen client examples.orders.design:api` writes `orders_client`; each test starts
`python -m examples.orders` on 127.0.0.1 and calls it with the sync or the async client,
with real JWTs and API keys, and reads what the server logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from examples.orders.main import DEMO_API_KEY
from examples.orders.mint import mint
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.support.orders import Orders, demo
from tests.support.otlp import otlp_receiver

pytestmark = pytest.mark.integration

WRITER = mint(["orders:write", "orders:read"])
READER = mint(["orders:read"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orders]:
    """One example process for the tests that need no environment of their own."""
    with demo(tmp_path_factory.mktemp("orders")) as running:
        yield running


def _input(oc: Any, **changes: Any) -> Any:
    fields = {"amount": 12.5, "type": "retail", "customer": "ada@example.com", "note": "gift"}
    return oc.OrderInput(**{**fields, **changes})


def _ends(running: Any, status: int) -> list[dict[str, Any]]:
    return [line for line in running.lines()
            if line.get("msg") == "end" and line.get("http.response.status_code") == status]


def _settle(running: Any, oc: Any, client: Any) -> None:
    """Wait until the server logged every request sent so far.

    Requests are sent one after the other, so once the end line of a last, refused one
    (`list` with a page too large: a 400 with a request id) is written, all are.
    """
    with pytest.raises(oc.BadRequest) as caught:
        client.orders.list(per_page=1000)
    running.end_line(caught.value.request_id)


def test_the_sync_client_creates_shows_lists_and_cancels(tmp_path: Path, oc: Any) -> None:
    with demo(tmp_path) as d, oc.Client(d.api, auth=[oc.JwtAuth(WRITER)]) as writer, \
            oc.Client(d.api, auth=[oc.ApiKeyAuth(DEMO_API_KEY)]) as reader:
        created = writer.orders.create(order=_input(oc))
        assert isinstance(created, oc.Order)
        assert created.status == "open" and created.amount == 12.5 and created.note == "gift"
        # The payload Struct works as well as keyword arguments.
        second = writer.orders.create(oc.OrdersCreatePayload(order=_input(oc, type="wholesale")))

        assert reader.orders.show(id=created.id) == created
        page = reader.orders.list(per_page=1, page=2)
        assert isinstance(page, oc.OrderPage)
        assert (page.total, page.page, page.per_page) == (2, 2, 1)
        assert len(page.orders) == 1 and page.orders[0].id in {created.id, second.id}
        retail = reader.orders.list(type="retail")
        assert [o.id for o in retail.orders] == [created.id]

        cancelled = writer.orders.cancel(id=second.id)
        assert cancelled.status == "cancelled" and cancelled.id == second.id
        assert writer.health.ping() == oc.HealthPingResult(status="ok")
        # The reader holds an API key only, the writer a JWT only: each call above carried
        # the one its method accepts, where the design reads it.


async def test_the_async_client_does_the_same(served: Orders, oc: Any) -> None:
    async with oc.AsyncClient(served.api, auth=[oc.JwtAuth(WRITER)]) as client:
        created = await client.orders.create(order=_input(oc))
        assert created.status == "open"
        assert await client.orders.show(id=created.id) == created
        page = await client.orders.list(per_page=100)
        assert created.id in [o.id for o in page.orders]
        assert page.page == 1 and page.per_page == 100
        assert (await client.orders.cancel(id=created.id)).status == "cancelled"
        with pytest.raises(oc.AlreadyCancelledError):
            await client.orders.cancel(id=created.id)
        with pytest.raises(oc.BadRequest) as bad:
            await client.orders.create(order=_input(oc, amount=-1))
        assert bad.value.fields == ["amount"]


def test_invalid_values_raise_bad_request_naming_every_field(served: Orders, oc: Any) -> None:
    with oc.Client(served.api, auth=[oc.JwtAuth(WRITER)]) as client:
        with pytest.raises(oc.BadRequest) as caught:
            client.orders.create(order=_input(oc, amount=-1, customer="not an email"))
        err = caught.value
        assert err.status == 400 and err.name == "bad_request"
        assert sorted(err.fields) == ["amount", "customer"]
        assert {e.where for e in err.errors} == {"body"}
        assert "amount" in str(err) and "customer" in str(err)
        # The request id is the one the server logged the refusal with.
        assert served.end_line(err.request_id)["http.response.status_code"] == 400
        # A path parameter that is no UUID: named, and its slash stayed in its segment.
        with pytest.raises(oc.BadRequest) as path:
            client.orders.show(id="not/a-uuid")
        assert [(e.field, e.where) for e in path.value.errors] == [("id", "path")]


def test_design_errors_raise_their_own_exceptions(served: Orders, oc: Any) -> None:
    with oc.Client(served.api, auth=[oc.JwtAuth(WRITER)]) as client:
        missing = str(uuid.uuid4())
        with pytest.raises(oc.NotFoundError) as caught:
            client.orders.show(id=missing)
        err = caught.value
        assert isinstance(err, oc.ServiceError) and isinstance(err, oc.APIError)
        assert (err.status, err.name, err.headers["goa-error"]) == (404, "not_found", "not_found")
        assert err.body is not None and err.body.id == err.id
        assert served.end_line(err.request_id)["http.response.status_code"] == 404

        order = client.orders.create(order=_input(oc))
        client.orders.cancel(id=order.id)
        with pytest.raises(oc.AlreadyCancelledError) as twice:
            client.orders.cancel(id=order.id)
        assert twice.value.status == 409 and twice.value.temporary is False
    # The router's 404 has the same body name but no `Goa-Error`: the generic class.
    with oc.Client(served.api + "/nowhere", auth=[oc.JwtAuth(WRITER)]) as lost:
        with pytest.raises(oc.APIError) as nowhere:
            lost.orders.show(id=missing)
    assert type(nowhere.value) is oc.APIError
    assert (nowhere.value.status, nowhere.value.name) == (404, "not_found")


def test_missing_or_weak_credentials_raise_the_auth_errors(served: Orders, oc: Any) -> None:
    with oc.Client(served.api) as anonymous, pytest.raises(oc.Unauthorized) as none:
        anonymous.orders.create(order=_input(oc))
    assert none.value.status == 401
    assert none.value.www_authenticate is not None
    assert "Bearer" in none.value.www_authenticate
    with oc.Client(served.api, auth=[oc.ApiKeyAuth("wrong-key")]) as wrong, \
            pytest.raises(oc.Unauthorized):
        wrong.orders.list()
    with oc.Client(served.api, auth=[oc.JwtAuth(READER)]) as reader, \
            pytest.raises(oc.Forbidden) as weak:
        reader.orders.create(order=_input(oc))
    assert weak.value.status == 403 and "orders:write" in weak.value.message
    # An API key is no alternative for `create` (JWT only): nothing is sent, 401.
    with oc.Client(served.api, auth=[oc.ApiKeyAuth(DEMO_API_KEY)]) as keyed, \
            pytest.raises(oc.Unauthorized):
        keyed.orders.create(order=_input(oc))


def test_a_429_with_retry_after_is_waited_for_then_retried(tmp_path: Path, oc: Any) -> None:
    limits = {"RATE_LIMITS": "orders.show=2/second,orders.create=1/second"}
    with demo(tmp_path, **limits) as d, oc.Client(d.api, auth=[oc.JwtAuth(WRITER)]) as client:
        order = client.orders.create(order=_input(oc))
        # `create` is a POST: retried because the 429's body says `temporary`.
        again = client.orders.create(order=_input(oc))
        for _ in range(3):
            assert client.orders.show(id=order.id) == order
        _settle(d, oc, client)
        refused = _ends(d, 429)
        assert {line["http.route"] for line in refused} == {"/orders", "/orders/{id}"}
        assert again.id != order.id
        assert len(_ends(d, 200)) == 3 and len(_ends(d, 201)) == 2


def test_retries_give_up_within_their_bounds(tmp_path: Path, oc: Any) -> None:
    # One request a day: the window's Retry-After is far past the client's 30 s budget.
    with demo(tmp_path, RATE_LIMITS="orders.show=1/day") as d:
        with oc.Client(d.api, auth=[oc.ApiKeyAuth(DEMO_API_KEY)]) as client:
            missing = str(uuid.uuid4())
            with pytest.raises(oc.NotFoundError):
                client.orders.show(id=missing)
            # Retry-After is past the total budget: no wait is taken, the 429 is raised.
            with pytest.raises(oc.TooManyRequests) as caught:
                client.orders.show(id=missing)
        assert caught.value.retry_after is not None and caught.value.retry_after > 30
        assert caught.value.temporary is True
        with oc.Client(d.api, auth=[oc.ApiKeyAuth(DEMO_API_KEY)],
                       retry=oc.Retry.never()) as once, pytest.raises(oc.TooManyRequests):
            once.orders.show(id=missing)
        with oc.Client(d.api, auth=[oc.ApiKeyAuth(DEMO_API_KEY)]) as last:
            _settle(d, oc, last)
        # One request each: nothing was sent again.
        assert len(_ends(d, 429)) == 2


def test_the_current_span_travels_as_traceparent(served: Orders, oc: Any) -> None:
    trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    parent = SpanContext(trace_id, span_id, is_remote=False,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with oc.Client(served.api, auth=[oc.ApiKeyAuth(DEMO_API_KEY)]) as client:
        with trace.use_span(NonRecordingSpan(parent)), pytest.raises(oc.NotFoundError) as inside:
            client.orders.show(id=str(uuid.uuid4()))
        with pytest.raises(oc.NotFoundError) as outside:  # no span: the server's own trace
            client.orders.show(id=str(uuid.uuid4()))
    assert served.end_line(inside.value.request_id)["trace_id"] == f"{trace_id:032x}"
    assert served.end_line(outside.value.request_id)["trace_id"] != f"{trace_id:032x}"


def test_client_spans_are_the_parents_of_the_server_spans(tmp_path: Path, oc: Any) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    env = {"OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with otlp_receiver() as receiver, demo(
        tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, **env
    ) as d, oc.Client(d.api, auth=[oc.ApiKeyAuth(DEMO_API_KEY)],
                      tracer_provider=provider) as client:
        with pytest.raises(oc.NotFoundError):
            client.orders.show(id=str(uuid.uuid4()))
        (span,) = exporter.get_finished_spans()
        assert span.kind is trace.SpanKind.CLIENT and span.name == "GET /orders/{id}"
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == 404
        assert span.attributes["rpc.method"] == "orders.show"
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name == "orders_client"
        client_span = f"{span.context.span_id:016x}"
        spans = receiver.wait_for_spans(
            lambda got: any(s.parent_span_id == client_span for s in got), timeout=15)
    server = next(s for s in spans if s.parent_span_id == client_span)
    assert server.kind == "SERVER" and server.trace_id == f"{span.context.trace_id:032x}"
    provider.shutdown()
