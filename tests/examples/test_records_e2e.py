"""The records example in a real process: its interceptors over HTTP and over gRPC.

One process, one cache: what HTTP loads, gRPC is answered from, so both transports run
the same interceptors on the same seam.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator, Iterator
from types import ModuleType

import grpc
import httpx
import pytest
from examples.records.design import api

from tests.support.examples import Example, example
from tests.support.grpc import compile_protos
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Example, int]]:
    port = free_port()
    with example("records", tmp_path_factory.mktemp("records"),
                 {"GRPC_ADDR": f"127.0.0.1:{port}"}) as ex:
        wait_for_port(port, timeout=30)
        yield ex, port


@pytest.fixture(scope="module")
def pb() -> dict[str, ModuleType]:
    return compile_protos(api)


def _create(ex: Example, tenant: str = "acme") -> dict[str, str]:
    r = httpx.post(f"{ex.api}/records/{tenant}", json="hello", headers={"X-Tenant": tenant})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_trace_request_writes_the_payload_the_method_sees(
        running: tuple[Example, int]) -> None:
    ex, _ = running
    created = _create(ex)
    assert uuid.UUID(created["traceID"])  # written by TraceRequest, echoed by the method
    given = str(uuid.uuid4())
    r = httpx.post(f"{ex.api}/records/acme", json="again",
                   headers={"X-Tenant": "acme", "X-Trace-ID": given})
    assert r.json()["traceID"] == given  # read first: the caller's id is kept


def test_cache_answers_the_second_get_and_stamps_what_it_stored(
        running: tuple[Example, int]) -> None:
    ex, _ = running
    rid = _create(ex)["id"]
    first = httpx.get(f"{ex.api}/records/acme/{rid}", headers={"X-Tenant": "acme"})
    second = httpx.get(f"{ex.api}/records/acme/{rid}", headers={"X-Tenant": "acme"})
    assert first.status_code == second.status_code == 200
    assert first.json()["loads"] == second.json()["loads"] == 2  # the service loaded it once
    assert first.json()["cachedAt"] == second.json()["cachedAt"]
    stamped = datetime.datetime.fromisoformat(first.json()["cachedAt"])  # a date-time
    assert stamped.tzinfo is not None


def test_tenant_check_refuses_before_the_cache_can_answer(
        running: tuple[Example, int]) -> None:
    ex, _ = running
    rid = _create(ex)["id"]
    assert httpx.get(f"{ex.api}/records/acme/{rid}", headers={"X-Tenant": "acme"}).is_success
    r = httpx.get(f"{ex.api}/records/acme/{rid}", headers={"X-Tenant": "other"})
    assert r.status_code == 403
    assert r.headers["goa-error"] == "forbidden"
    assert "'other' may not read" in r.json()["message"]
    r = httpx.post(f"{ex.api}/records/acme", json="x", headers={"X-Tenant": "other"})
    assert r.status_code == 403  # a service-level interceptor: every method


async def test_grpc_runs_the_same_interceptors_and_shares_the_cache(
        running: tuple[Example, int], pb: dict[str, ModuleType]) -> None:
    ex, port = running
    rid = _create(ex)["id"]
    over_http = httpx.get(f"{ex.api}/records/acme/{rid}", headers={"X-Tenant": "acme"}).json()
    m = pb["records.pb2"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb["records.grpc"].RecordsStub(channel)
        got = await stub.Get(m.GetRequest(tenant_id="acme", record_id=rid),
                             metadata=[("x-tenant", "acme")])
        assert got.loads == over_http["loads"] == 2  # answered by the cache HTTP filled
        assert got.cached_at.seconds > 0
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Get(m.GetRequest(tenant_id="acme", record_id=rid),
                           metadata=[("x-tenant", "other")])
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        made = await stub.Create(m.CreateRequest(tenant_id="acme", value="from grpc"),
                                 metadata=[("x-tenant", "acme")])
        assert uuid.UUID(made.trace_id) and made.value == "from grpc"


async def test_stream_interceptors_run_per_message_both_ways_over_grpc(
        running: tuple[Example, int], pb: dict[str, ModuleType]) -> None:
    _, port = running
    m = pb["records.pb2"]
    given = str(uuid.uuid4())

    async def messages() -> AsyncIterator[object]:
        yield m.StreamStreamingRequest(value="a")
        yield m.StreamStreamingRequest(value="b", trace_id=given)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb["records.grpc"].RecordsStub(channel)
        call = stub.Stream(messages(), metadata=[("x-tenant-id", "acme"), ("x-tenant", "acme")])
        got = [(r.value, r.trace_id) async for r in call]
        assert [v for v, _ in got] == ["A", "B", "done"]
        assert got[1][1] == given  # read on receipt: the caller's id is kept
        assert uuid.UUID(got[0][1]) and uuid.UUID(got[2][1])  # written on receipt, on send
        assert len({t for _, t in got}) == 3
        # TenantCheck runs once, around the whole stream: refused before any message
        # (none sent: grpcio fails a client still writing to a call the server ended).
        refused = stub.Stream(iter(()), metadata=[("x-tenant-id", "acme"),
                                                  ("x-tenant", "other")])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in refused]
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
