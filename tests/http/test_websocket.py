"""WebSocket streams: the shop's streaming methods over WebSocket and gRPC, and failures.

The same design and the same `Shop` methods serve both, through one server on
127.0.0.1: what a stock grpcio client gets, a stock `websockets` client gets too, each
message validated by the same types and the call secured by the same enforcer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import grpc
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

import bastion
from bastion.http.websocket import close_reason, invalid_reason
from bastion.operations import InvalidPayload
from bastion.redact import Redactor
from bastion.schema.validate import FieldError
from tests.support import grpc_shop, streamed
from tests.support.grpc import Served, compile_protos, serve_grpc
from tests.support.served import Served as Served_
from tests.support.served import bastion_serve
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def protos() -> dict[str, ModuleType]:
    return compile_protos(grpc_shop.api)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serve_grpc(bastion.App(grpc_shop.api, {"shop": grpc_shop.Shop()})) as s:
        yield s


@pytest.fixture
async def stub(served: Served, protos: dict[str, ModuleType]) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(served.target) as channel:
        yield protos["shoptest.grpc"].ShopStub(channel)


def ws_url(served: Served, path: str) -> str:
    return served.url.replace("http://", "ws://") + path


async def messages(conn: ClientConnection) -> tuple[list[Any], int, str]:
    """Every message until the close, and the close's code and reason."""
    got = []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            got.append(json.loads(await conn.recv()))
    frame = info.value.rcvd
    assert frame is not None
    return got, frame.code, frame.reason


async def test_a_server_stream_is_the_same_over_grpc_and_websocket(
    served: Served, stub: Any, protos: dict[str, ModuleType],
) -> None:
    pb = protos["shoptest.pb2"]
    over_grpc = [(m.sku, m.qty) async for m in stub.Watch(pb.WatchRequest(count=3))]
    async with connect(ws_url(served, "/watch?count=3")) as conn:
        got, code, _ = await messages(conn)
    assert [(m["sku"], m["qty"]) for m in got] == over_grpc == [("w1", 1), ("w2", 2),
                                                                ("w3", 3)]
    assert code == 1000


async def test_a_bidirectional_stream_is_the_same_over_grpc_and_websocket(
    served: Served, stub: Any, protos: dict[str, ModuleType],
) -> None:
    pb = protos["shoptest.pb2"]

    async def items() -> Any:
        for n in (1, 2):
            yield pb.ChatStreamingRequest(sku=f"c{n}", qty=n)

    call = stub.Chat(items(), metadata=[("factor", "10")])
    over_grpc = [(m.sku, m.qty) async for m in call]
    async with connect(ws_url(served, "/chat?factor=10")) as conn:
        for n in (1, 2):
            await conn.send(json.dumps({"sku": f"c{n}", "qty": n}))
        await conn.send("null")
        got, code, _ = await messages(conn)
    assert [(m["sku"], m["qty"]) for m in got] == over_grpc == [("c1", 10), ("c2", 20)]
    assert code == 1000


async def test_a_client_streams_messages_are_validated_by_the_same_types(
    served: Served, stub: Any, protos: dict[str, ModuleType],
) -> None:
    pb = protos["shoptest.pb2"]

    async def bad() -> Any:
        yield pb.UploadStreamingRequest(sku="ok", qty=1)
        yield pb.UploadStreamingRequest(sku="x", qty=0)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Upload(bad())
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    async with connect(ws_url(served, "/upload")) as conn:
        await conn.send(json.dumps({"sku": "ok", "qty": 1}))
        await conn.send(json.dumps({"sku": "x", "qty": 0}))
        _, code, reason = await messages(conn)
    assert code == 1007 and reason.startswith("invalid_payload: ")
    named = reason.split(": ")[1]
    assert set(named.split(", ")) == {"sku", "qty"}
    async with connect(ws_url(served, "/upload")) as conn:
        for n in (1, 2, 3):
            await conn.send(json.dumps({"sku": f"s{n}", "qty": n}))
        await conn.send("null")
        got, code, _ = await messages(conn)
    assert got == [{"total": 6, "count": 3}] and code == 1000


async def test_the_same_enforcer_secures_the_stream_once_on_either_transport(
    served: Served, stub: Any, protos: dict[str, ModuleType],
) -> None:
    pb = protos["shoptest.pb2"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [m async for m in stub.Mine(pb.MineRequest())]
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(served, "/mine")):
            pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Bearer")
    # A token without the scope the service requires: 403 naming it, PERMISSION_DENIED.
    with pytest.raises(InvalidStatus) as forbidden:
        async with connect(ws_url(served, "/mine"), additional_headers={
                "Authorization": f"Bearer {grpc_shop.token()}"}):
            pass
    assert forbidden.value.response.status_code == 403
    assert b"shop:read" in (forbidden.value.response.body or b"")
    token = grpc_shop.token("shop:read", subject="ada")
    async with connect(ws_url(served, "/mine"),
                       additional_headers={"Authorization": f"Bearer {token}"}) as conn:
        got, code, _ = await messages(conn)
    assert [m["sku"] for m in got] == ["ada", "ada"] and code == 1000


def test_a_close_reason_is_cut_to_what_a_close_frame_holds() -> None:
    assert close_reason("short") == "short"
    long = "é" * 100  # 200 bytes of UTF-8
    cut = close_reason(long)
    assert len(cut.encode("utf-8")) <= 123 and cut.endswith("...")
    assert cut.startswith("é" * 50)


# -- streams that go wrong, through `bastion serve` ----------------------------------------


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served_]:
    env = {"WRITE_TIMEOUT": "1s", "SSE_HEARTBEAT": "0.2s"}
    with bastion_serve("tests.support.streamed:app", tmp_path_factory.mktemp("faulty"),
                       env=env) as running:
        yield running


def lines_of(served: Served_) -> list[dict[str, Any]]:
    return [json.loads(x) for x in served.output().splitlines() if x.startswith("{")]


def test_a_bug_closes_with_1011_and_the_id_of_its_log_line(faulty: Served_) -> None:
    url = faulty.url.replace("http://", "ws://")
    with sync_connect(url + "/ws/bug") as conn:
        assert json.loads(conn.recv(timeout=10)) == {"n": 1}
        with pytest.raises(ConnectionClosed) as info:
            conn.recv(timeout=10)
    frame = info.value.rcvd
    assert frame is not None and frame.code == 1011
    error_id = frame.reason.split("quote id ")[1].split()[0]
    wait_until(lambda: any(x.get("error.id") == error_id and x.get("msg") == "unexpected error"
                           for x in lines_of(faulty)))
    assert streamed.SECRET not in frame.reason


@pytest.mark.parametrize(("path", "code", "reason"), [
    ("/ws/busy", 1013, "busy: too many streams"),
    ("/ws/mismatch", 1011, "internal error; quote id "),
])
def test_temporary_errors_and_bad_results_say_so_in_their_close(
    faulty: Served_, path: str, code: int, reason: str,
) -> None:
    with sync_connect(faulty.url.replace("http://", "ws://") + path) as conn, \
            pytest.raises(ConnectionClosed) as info:
        while True:
            conn.recv(timeout=10)
    frame = info.value.rcvd
    assert frame is not None and frame.code == code and frame.reason.startswith(reason)


def test_a_close_reason_never_echoes_a_sensitive_value() -> None:
    errors = [FieldError("card", "Invalid value '4111111111111111'", ""),
              FieldError("qty", "Expected `int` >= 1", "")]
    reason = invalid_reason(InvalidPayload(errors), Redactor({"card"}))
    assert reason.startswith("invalid_payload: card, qty: ")
    assert "4111" not in reason and "Expected `int` >= 1" in reason


async def test_a_stream_asked_for_once_the_drain_began_is_refused() -> None:
    app = bastion.App(grpc_shop.api, {"shop": grpc_shop.Shop()})
    async with serve_grpc(app) as served:
        async with connect(ws_url(served, "/watch?count=0")) as open_stream:
            await open_stream.recv()
            app.begin_shutdown()  # what SIGTERM does first: open streams end with 1001
            _, code, reason = await messages(open_stream)
        assert (code, reason) == (1001, "server shutting down")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(served, "/watch?count=1")):
                pass
    assert refused.value.response.status_code == 503
