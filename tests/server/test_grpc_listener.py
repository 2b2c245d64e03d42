"""The gRPC listener of `bastion.run`: GRPC_* limits, reflection's default, TLS, its address."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import grpc
import pytest

from bastion.server import ServerOptions
from bastion.server._grpc import channel_options, reflection_on
from tests.server.test_tls import make_certificate
from tests.support import grpc_shop
from tests.support.grpc import bearer, compile_protos, serve_grpc


@pytest.fixture(scope="module")
def pb() -> ModuleType:
    return compile_protos(grpc_shop.api)["shoptest.pb2"]


@pytest.fixture(scope="module")
def pb_grpc() -> ModuleType:
    return compile_protos(grpc_shop.api)["shoptest.grpc"]


def test_reflection_is_on_outside_production_only() -> None:
    assert reflection_on(ServerOptions(grpc_host="127.0.0.1", grpc_reflection="auto"))
    assert not reflection_on(ServerOptions(grpc_host="127.0.0.1", grpc_reflection="off"))
    assert reflection_on(ServerOptions(grpc_host="0.0.0.0", grpc_reflection="on"))
    # A container: every interface, no terminal (pytest's stderr is captured).
    assert not reflection_on(ServerOptions(grpc_host="0.0.0.0", grpc_reflection="auto"))


async def test_max_receive_message_size_from_the_environment(pb_grpc: ModuleType,
                                                             pb: ModuleType) -> None:
    async with serve_grpc(grpc_shop.build(), grpc_max_recv_message_bytes=1024) as served, \
            grpc.aio.insecure_channel(served.target) as channel:
        stub = pb_grpc.ShopStub(channel)
        big = pb.Item(sku="ab", qty=1, note="x" * 4096)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Add(pb.AddRequest(item=big), metadata=bearer("shop:write"))
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        small = await stub.Add(pb.AddRequest(item=pb.Item(sku="ab", qty=1)),
                               metadata=bearer("shop:write"))
        assert small.sku == "ab"


async def test_connection_age_ends_a_long_stream_with_unavailable(pb_grpc: ModuleType,
                                                                  pb: ModuleType) -> None:
    # GRPC_MAX_CONNECTION_AGE: the connection gets GOAWAY, calls get the grace, then it closes.
    async with serve_grpc(grpc_shop.build(), grpc_max_connection_age=0.5,
                          grpc_max_connection_age_grace=0.5) as served, \
            grpc.aio.insecure_channel(served.target) as channel:
        call = pb_grpc.ShopStub(channel).Watch(pb.WatchRequest(count=0))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_keepalive_and_limits_become_grpc_server_arguments() -> None:
    args = dict(channel_options(ServerOptions(
        grpc_keepalive_time=30, grpc_keepalive_timeout=5, grpc_keepalive_min_time=10,
        grpc_max_connection_idle=60, grpc_max_connection_age=600,
        grpc_max_connection_age_grace=15, grpc_max_recv_message_bytes=1000,
        grpc_max_send_message_bytes=2000)))
    assert args["grpc.keepalive_time_ms"] == 30_000
    assert args["grpc.keepalive_timeout_ms"] == 5_000
    assert args["grpc.http2.min_recv_ping_interval_without_data_ms"] == 10_000
    assert args["grpc.max_connection_idle_ms"] == 60_000
    assert args["grpc.max_connection_age_ms"] == 600_000
    assert args["grpc.max_connection_age_grace_ms"] == 15_000
    assert (args["grpc.max_receive_message_length"], args["grpc.max_send_message_length"]) == (
        1000, 2000)
    assert args["grpc.so_reuseport"] == 0  # a port in use is an error, not a shared port


async def test_tls_from_the_same_certificate_files(tmp_path: Path, pb_grpc: ModuleType,
                                                   pb: ModuleType) -> None:
    cert, key = make_certificate(tmp_path)
    async with serve_grpc(grpc_shop.build(), tls_cert_file=cert, tls_key_file=key) as served:
        assert served.server.urls["grpc"].startswith("grpcs://")
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(served.target, creds) as channel:
            reply = await pb_grpc.ShopStub(channel).Watch(pb.WatchRequest(count=1)).read()
            assert reply.sku == "w1"
        async with grpc.aio.insecure_channel(served.target) as plain:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await pb_grpc.ShopStub(plain).Slow(pb.SlowRequest(), timeout=3)
            assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE,
                                           grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_grpc_addr_in_use_fails_the_start_naming_it() -> None:
    from bastion.server import ListenError
    from tests.support.servers import free_port

    port = free_port()
    async with serve_grpc(grpc_shop.build(), grpc_port=port):
        with pytest.raises(ListenError, match="GRPC_ADDR"):
            async with serve_grpc(grpc_shop.build(), grpc_port=port):
                pass
