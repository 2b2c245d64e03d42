"""What GRPCTransport serves around the rpcs: health from the checker, reflection, spans."""

from __future__ import annotations

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


async def test_health_watch_sees_not_serving_then_ends_with_unavailable(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.target) as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert (await call.read()).status == _SERVING
        served.server.served.begin_shutdown()  # SIGTERM: readiness flips
        assert (await call.read()).status == _NOT_SERVING
        served.server.served.grpc_transport().end_streams()  # the drain, after SHUTDOWN_DELAY
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
