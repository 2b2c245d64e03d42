"""bastion.testing.mock: Clue's sequence and permanent mocks, and the scripted HTTP server."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from examples.orders.design import api as orders_api
from examples.orders.service import Health, Orders

import bastion
from bastion.security import APIKeyStore
from bastion.security.testing import TokenFactory
from bastion.testing import LogCapture, TestClient
from bastion.testing.mock import HTTPMock, Mock, UnexpectedCall, json_response, resolve

HERE = Path(__file__).name


def test_added_calls_are_consumed_in_order_across_methods() -> None:
    m = Mock("orders")
    m.add("show", lambda: "first show")
    m.add("list", lambda: "the list")
    m.add("show", lambda: "second show")
    assert m.has_more()
    assert m.remaining() == ["show", "list", "show"]
    assert m.next("show")() == "first show"
    assert m.next("list")() == "the list"
    assert m.next("show")() == "second show"
    assert not m.has_more()
    m.assert_done()


def test_a_permanent_answer_serves_once_the_method_has_none_left_in_sequence() -> None:
    m = Mock("orders")
    m.set("show", lambda: "permanent")
    m.add("show", lambda: "sequenced")
    m.add("list", lambda: "list")
    assert m.next("show")() == "sequenced"
    # `list` is next in sequence, but `show` has none left there: the permanent one answers.
    assert m.next("show")() == "permanent"
    assert m.next("list")() == "list"
    assert m.next("show")() == "permanent"
    m.assert_done()


def test_next_names_the_method_when_nothing_is_expected_of_it() -> None:
    m = Mock("orders")
    with pytest.raises(UnexpectedCall, match=r"orders mock: unexpected call of 'cancel': no call"
                       r" of 'cancel' is expected and every expected call happened"):
        m.next("cancel")
    m.add("show", lambda: None)
    with pytest.raises(UnexpectedCall) as info:
        m.next("cancel")
    assert "the next expected call is 'show' (added at " in str(info.value)
    assert f"{HERE}:" in str(info.value)


def test_a_call_out_of_order_is_refused_and_consumes_nothing() -> None:
    m = Mock("orders")
    m.add("create", lambda: "created")
    m.add("show", lambda: "shown")
    with pytest.raises(UnexpectedCall, match=r"call 1 of the sequence is 'create'.*but 'show' was"
                                             r" called first"):
        m.next("show")
    assert m.remaining() == ["create", "show"]
    assert m.next("create")() == "created"
    assert m.next("show")() == "shown"
    # The refused call is still reported: a service may have swallowed the error.
    with pytest.raises(AssertionError, match="1 unexpected call: orders mock: unexpected call of"
                                             " 'show'"):
        m.assert_done()


def test_assert_done_names_every_expected_call_that_did_not_happen_and_where_it_was_added() -> None:
    m = Mock("orders")
    m.add("create", lambda: None)
    line_show = _line_of(lambda: m.add("show", lambda: None))
    line_list = _line_of(lambda: m.add("list", lambda: None))
    m.next("create")
    with pytest.raises(AssertionError) as info:
        m.assert_done()
    assert str(info.value) == (
        f"orders mock: 2 expected calls did not happen: "
        f"#2 'show' (added at {__file__}:{line_show}); "
        f"#3 'list' (added at {__file__}:{line_list})"
    )


def _line_of(add: object) -> int:
    import inspect

    assert callable(add)
    line = inspect.getsourcelines(add)[1]  # type: ignore[arg-type]
    add()
    return line


def test_the_mock_is_safe_across_threads() -> None:
    m = Mock("counter")
    for i in range(200):
        m.add("tick", lambda i=i: i)
    seen: list[int] = []

    def worker() -> None:
        for _ in range(50):
            seen.append(m.next("tick")())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(200))
    m.assert_done()


async def test_resolve_takes_sync_and_async_answers() -> None:
    async def later() -> int:
        return 2

    assert await resolve(1) == 1
    assert await resolve(later()) == 2


def test_http_mock_answers_by_method_and_path_template_and_records_requests() -> None:
    http = HTTPMock("screening")
    http.add("POST", "/check", json_response(200, {"ok": True}))
    http.add("GET", "/orders/{id}", lambda r: json_response(200, {"id": r.url.path.split("/")[-1]}))
    http.set("GET", "/orders/stats", json_response(200, {"n": 3}))
    with http.sync_client() as client:
        assert client.post("/check", json={"amount": 3}).json() == {"ok": True}
        assert client.get("/orders/stats").json() == {"n": 3}  # static before the template
        assert client.get("/orders/abc").json() == {"id": "abc"}
        assert client.get("/orders/stats").json() == {"n": 3}  # permanent: again
        with pytest.raises(UnexpectedCall, match="unexpected call of 'DELETE /orders/abc'"):
            client.delete("/orders/abc")
    assert [(r.method, r.url.path) for r in http.requests] == [
        ("POST", "/check"), ("GET", "/orders/stats"), ("GET", "/orders/abc"),
        ("GET", "/orders/stats"), ("DELETE", "/orders/abc")]
    assert http.find("POST", "/check")[0].content == b'{"amount":3}'
    assert not http.has_more()
    with pytest.raises(AssertionError, match="1 unexpected call"):
        http.assert_done()


async def test_http_mock_async_client_with_an_async_answer_and_a_missing_request() -> None:
    http = HTTPMock("screening", base_url="http://screening.test/v1")

    async def answer(request: httpx.Request) -> httpx.Response:
        return json_response(201, {"echo": request.headers["x-n"]})

    http.add("POST", "/check", answer)
    http.add("POST", "/check", json_response(200, {}))
    async with http.client() as client:
        r = await client.post("/check", headers={"x-n": "7"})
    assert (r.status_code, r.json()) == (201, {"echo": "7"})
    assert isinstance(client, bastion.otel.TracedAsyncClient)  # the traced client, unchanged
    with pytest.raises(AssertionError, match=r"screening mock: 1 expected call did not happen: "
                                             r"#2 'POST /check' \(added at "):
        http.assert_done()


# The orders example depends on a screening service, which `create` calls through the
# traced sync client. Scripted here with HTTPMock: the example runs whole, in process.

def _orders_app(tmp_path: Path, screening: HTTPMock, tokens: TokenFactory,
                logs: LogCapture | None = None) -> bastion.App:
    orders = Orders(f"sqlite:///{tmp_path / 'orders.db'}", tokens.verifier(), APIKeyStore(),
                    upstream=screening.sync_client())
    return bastion.App(orders_api, services={"orders": orders, "health": Health()},
                       logger=(logs or LogCapture()).logger)


async def test_the_orders_example_with_its_screening_dependency_scripted(tmp_path: Path) -> None:
    screening = HTTPMock("screening")
    screening.add("POST", "/check", json_response(200, {"verdict": "ok"}))
    screening.add("POST", "/check", json_response(403, {"verdict": "fraud"}))
    tokens = TokenFactory("ES256")
    auth = {"Authorization": f"Bearer {tokens.mint('alice', scopes=['orders:write'])}"}
    order = {"amount": 12.5, "type": "retail", "customer": "ada@example.com"}
    logs = LogCapture()
    async with TestClient(_orders_app(tmp_path, screening, tokens, logs)) as client:
        accepted = await client.post("/orders", json=order, headers=auth)
        refused = await client.post("/orders", json={**order, "amount": 999}, headers=auth)
    assert accepted.status_code == 201, accepted.text
    assert (refused.status_code, refused.json()["name"]) == (422, "rejected")
    screening.assert_done()
    first, second = screening.requests
    assert first.url.path == second.url.path == "/check"
    assert httpx.Response(200, content=first.content).json() == {
        "amount": 12.5, "customer": "ada@example.com"}
    assert httpx.Response(200, content=second.content).json()["amount"] == 999
    # The traced client still carries the request's trace to the dependency.
    created = logs.find(msg="creating order")
    assert first.headers["traceparent"].split("-")[1] == created["trace_id"]


async def test_an_expected_dependency_call_that_did_not_happen_fails_the_test(
        tmp_path: Path) -> None:
    screening = HTTPMock("screening")
    screening.add("POST", "/check", json_response(200, {}))
    tokens = TokenFactory("ES256")
    token = tokens.mint("alice", scopes=["orders:write"])
    async with TestClient(_orders_app(tmp_path, screening, tokens)) as client:
        # A request refused before `create` runs never reaches the dependency.
        r = await client.post("/orders", json={"amount": -1, "type": "retail",
                                               "customer": "ada@example.com"},
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400
    with pytest.raises(AssertionError) as info:
        screening.assert_done()
    assert str(info.value).startswith(
        "screening mock: 1 expected call did not happen: #1 'POST /check' (added at "
        f"{__file__}:")
