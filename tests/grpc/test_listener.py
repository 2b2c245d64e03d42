"""What the gRPC listener adds around the rpcs: health, reflection, spans, metrics, limits, TLS."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, StatusCode

from bastion.options import Observe
from bastion.otel import configure
from bastion.otel._sampler import ParentBasedSampler
from bastion.server import ServerOptions
from bastion.server._grpc import channel_options, reflection_on
from tests.server.test_tls import make_certificate
from tests.support import grpc_shop
from tests.support.grpc import Served, bearer, serve_grpc

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _check(target: str, service: str = "") -> Any:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return (await stub.Check(health_pb2.HealthCheckRequest(service=service))).status


async def test_health_is_fed_by_the_same_checker_as_healthz() -> None:
    import httpx

    healthy = {"db": True}

    async def database() -> None:
        if not healthy["db"]:
            raise ConnectionError("database down")

    app = grpc_shop.build(checks=[database], observe=Observe(health_cache_ttl=0))
    admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin_app),
                              base_url="http://admin")
    async with serve_grpc(app) as served, admin:
        assert await _check(served.target) == _SERVING
        assert await _check(served.target, "shoptest.Shop") == _SERVING
        assert (await admin.get("/healthz")).status_code == 200
        healthy["db"] = False
        assert await _check(served.target) == _NOT_SERVING
        assert (await admin.get("/healthz")).status_code == 503
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _check(served.target, "no.Such")
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_health_turns_not_serving_when_shutdown_begins(served: Served) -> None:
    assert await _check(served.target) == _SERVING
    served.server.served.begin_shutdown()  # what SIGTERM does first, before any delay
    assert await _check(served.target) == _NOT_SERVING


async def test_reflection_describes_the_design_services(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def ask(**kwargs: Any) -> Any:
            async for reply in stub.ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(**kwargs)])):
                return reply
            return None

        names = {s.name for s in (await ask(list_services="")).list_services_response.service}
        assert {"shoptest.Shop", "grpc.health.v1.Health"} <= names
        files = (await ask(file_containing_symbol="shoptest.Shop")).file_descriptor_response
    from google.protobuf import descriptor_pb2

    from bastion.grpc import proto_files

    served_file = descriptor_pb2.FileDescriptorProto.FromString(files.file_descriptor_proto[0])
    assert served_file == proto_files(grpc_shop.api)[0].descriptor()


def test_reflection_is_on_outside_production_only() -> None:
    assert reflection_on(ServerOptions(grpc_host="127.0.0.1", grpc_reflection="auto"))
    assert not reflection_on(ServerOptions(grpc_host="127.0.0.1", grpc_reflection="off"))
    assert reflection_on(ServerOptions(grpc_host="0.0.0.0", grpc_reflection="on"))
    # A container: every interface, no terminal (pytest's stderr is captured).
    assert not reflection_on(ServerOptions(grpc_host="0.0.0.0", grpc_reflection="auto"))


async def test_reflection_off_serves_no_reflection() -> None:
    async with serve_grpc(grpc_shop.build(), grpc_reflection="off") as served, \
            grpc.aio.insecure_channel(served.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")])):
                pass
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_a_span_per_rpc_with_rpc_conventions_and_the_callers_trace(
        pb_grpc: ModuleType, pb: ModuleType) -> None:
    exporter = InMemorySpanExporter()
    telemetry = configure("shop", "1.0", env={}, span_exporter=exporter,
                          sampler=ParentBasedSampler(ALWAYS_ON))
    app = grpc_shop.build(telemetry=telemetry)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        async with serve_grpc(app) as served, \
                grpc.aio.insecure_channel(served.target) as channel:
            stub = pb_grpc.ShopStub(channel)
            await stub.Get(pb.GetRequest(sku="ab"),
                           metadata=[*bearer("shop:read"), ("traceparent", parent)])
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Fail(pb.FailRequest(how=pb.FailRequest.HOW_BROKEN))
        telemetry.force_flush()
        spans = {s.name: s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER}
        ok, failed = spans["shoptest.Shop/Get"], spans["shoptest.Shop/Fail"]
        assert ok.context.trace_id == int("0af7651916cd43dd8448eb211c80319c", 16)
        assert ok.parent is not None and ok.parent.span_id == int("b7ad6b7169203331", 16)
        assert {k: ok.attributes[k] for k in ("rpc.system", "rpc.service", "rpc.method",
                                              "rpc.grpc.status_code")} == {
            "rpc.system": "grpc", "rpc.service": "shoptest.Shop", "rpc.method": "Get",
            "rpc.grpc.status_code": 0}
        assert ok.status.status_code is not StatusCode.ERROR
        assert failed.attributes["rpc.grpc.status_code"] == 13
        assert failed.attributes["error.type"] == "broken"
        assert failed.status.status_code is StatusCode.ERROR
        assert any(e.name == "exception" for e in failed.events)
        assert telemetry.prometheus is not None
        text = telemetry.prometheus.render().decode()
        assert "rpc_server_duration" in text and 'rpc_method="Get"' in text
    finally:
        telemetry.shutdown()


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


async def test_health_watch_sees_not_serving_then_ends_with_unavailable(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.target) as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert (await call.read()).status == _SERVING
        served.server.served.begin_shutdown()
        assert (await call.read()).status == _NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
