"""The orders example over both transports, in one real process, with stock grpcio clients.

What is created over gRPC is read over HTTP and the other way round: one design, one
database, one security layer.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grpc
import httpx
import pytest
from examples.orders.design import api
from examples.orders.mint import mint

from tests.support.grpc import compile_protos, details
from tests.support.orders import Demo, demo

pytestmark = pytest.mark.integration

KEY = "demo-only-read-key-0123456789"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo(tmp_path_factory.mktemp("orders-grpc")) as d:
        yield d


@pytest.fixture(scope="module")
def pb() -> dict[str, ModuleType]:
    return compile_protos(api)


def _writer() -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {mint(['orders:write', 'orders:read'])}")]


async def test_create_over_grpc_then_read_it_over_http(running: Demo,
                                                      pb: dict[str, ModuleType]) -> None:
    o = pb["orders.pb2"]
    async with grpc.aio.insecure_channel(running.grpc_target) as channel:
        stub = pb["orders.grpc"].OrdersStub(channel)
        created = await stub.Create(o.CreateRequest(order=o.OrderInput(
            amount=12.5, type=o.OrderInput.TYPE_RETAIL, customer="ada@example.com")),
            metadata=_writer())
        assert created.status == o.CreateResponse.STATUS_OPEN
        assert created.type == o.CreateResponse.TYPE_RETAIL
        made = created.created_at.ToDatetime(tzinfo=datetime.UTC)
        assert abs((datetime.datetime.now(datetime.UTC) - made).total_seconds()) < 60
        shown = await stub.Show(o.ShowRequest(id=created.id), metadata=[("x-api-key", KEY)])
        assert (shown.id, shown.customer) == (created.id, "ada@example.com")
    r = httpx.get(f"{running.api}/orders/{created.id}", headers={"X-API-Key": KEY})
    assert r.status_code == 200
    assert r.json()["customer"] == "ada@example.com" and r.json()["type"] == "retail"


async def test_create_over_http_cancel_over_grpc_and_the_conflict_code(
        running: Demo, pb: dict[str, ModuleType]) -> None:
    token = mint(["orders:write", "orders:read"])
    r = httpx.post(f"{running.api}/orders", json={"amount": 3, "type": "wholesale",
                                                  "customer": "bob@example.com"},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    order_id = r.json()["id"]
    o = pb["orders.pb2"]
    async with grpc.aio.insecure_channel(running.grpc_target) as channel:
        stub = pb["orders.grpc"].OrdersStub(channel)
        cancelled = await stub.Cancel(o.CancelRequest(id=order_id), metadata=_writer())
        assert cancelled.status == o.CancelResponse.STATUS_CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Cancel(o.CancelRequest(id=order_id), metadata=_writer())
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert details(caught.value)["info"].reason == "already_cancelled"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Show(o.ShowRequest(id="00000000-0000-4000-8000-000000000000"),
                            metadata=[("x-api-key", KEY)])
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        page = await stub.List(o.ListRequest(per_page=5, type=o.ListRequest.TYPE_WHOLESALE),
                               metadata=[("x-api-key", KEY)])
        assert page.page == 1 and page.per_page == 5  # the design's default page
        assert order_id in {x.id for x in page.orders}


async def test_invalid_requests_and_refusals_over_grpc(running: Demo,
                                                      pb: dict[str, ModuleType]) -> None:
    o = pb["orders.pb2"]
    async with grpc.aio.insecure_channel(running.grpc_target) as channel:
        stub = pb["orders.grpc"].OrdersStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Create(o.CreateRequest(order=o.OrderInput(amount=-1, customer="nope")),
                              metadata=_writer())
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert set(details(caught.value)["fields"]) == {"order.amount", "order.type",
                                                        "order.customer"}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Show(o.ShowRequest(id="00000000-0000-4000-8000-000000000000"))
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        reader = [("authorization", f"Bearer {mint(['orders:read'])}")]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Create(o.CreateRequest(order=o.OrderInput(
                amount=1, type=o.OrderInput.TYPE_RETAIL, customer="a@example.com")),
                metadata=reader)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "orders:write" in caught.value.details()
        ping = await pb["health.grpc"].HealthStub(channel).Ping(pb["health.pb2"].PingRequest())
        assert ping.status == "ok"


def test_the_process_announces_and_logs_grpc_calls(running: Demo, tmp_path: Path) -> None:
    serving = running.wait_for_line(lambda x: x.get("msg", "").endswith("serving"))
    assert serving["url.grpc"] == f"grpc://{running.grpc_target}"
    end = running.wait_for_line(lambda x: x.get("msg") == "end" and "rpc.method" in x)
    assert end["rpc.service"].startswith(("orders.", "health."))
    metrics = running.metrics()
    assert "rpc_server_duration" in metrics
