"""SIGTERM drains both listeners of a real process: readiness flips on both, calls drain."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import grpc_shop
from tests.support.grpc import compile_protos
from tests.support.orders import ROOT
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration


@dataclass
class Shop:
    process: subprocess.Popen[bytes]
    http: int
    admin: int
    grpc: int
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        text = self.log.read_text(errors="replace")
        return [json.loads(x) for x in text[: text.rfind("\n") + 1].splitlines() if x]

    def readyz(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/readyz", timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as err:
            return int(err.code)


@contextlib.contextmanager
def shop_process(tmp_path: Path, **env: str) -> Iterator[Shop]:
    http, admin, grpc_port = free_port(), free_port(), free_port()
    log = tmp_path / "shop.log"
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
               "PYTHONPATH": str(ROOT), "HTTP_ADDR": f"127.0.0.1:{http}",
               "ADMIN_ADDR": f"127.0.0.1:{admin}", "GRPC_ADDR": f"127.0.0.1:{grpc_port}",
               "LOG_FORMAT": "json", **env}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.grpc_shop"], cwd=ROOT,
                                env=environ, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(grpc_port, timeout=30)
        yield Shop(proc, http, admin, grpc_port, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pb() -> tuple[ModuleType, ModuleType]:
    modules = compile_protos(grpc_shop.api)
    return modules["shoptest.pb2"], modules["shoptest.grpc"]


async def _health(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        return int(reply.status)


async def test_sigterm_flips_readiness_on_both_drains_calls_and_ends_streams(
        tmp_path: Path, pb: tuple[ModuleType, ModuleType]) -> None:
    messages, services = pb
    with shop_process(tmp_path, SHUTDOWN_DELAY="1s", SHUTDOWN_TIMEOUT="10s") as shop:
        target = f"127.0.0.1:{shop.grpc}"
        assert await _health(target) == health_pb2.HealthCheckResponse.SERVING
        assert shop.readyz() == 200
        async with grpc.aio.insecure_channel(target) as channel:
            stub = services.ShopStub(channel)
            stream = stub.Watch(messages.WatchRequest(count=0))
            assert (await stream.read()).sku == "w1"
            slow = asyncio.ensure_future(stub.Slow(messages.SlowRequest(seconds=2.0)))
            await asyncio.sleep(0.3)  # the slow call has begun

            shop.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)  # within SHUTDOWN_DELAY: both readiness answers flip
            assert await _health(target) == health_pb2.HealthCheckResponse.NOT_SERVING
            assert shop.readyz() == 503

            # After the delay the drain begins: the stream is told to go elsewhere...
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                while True:
                    await asyncio.wait_for(stream.read(), 10)
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "shutting down" in caught.value.details()
            # ...and the unary call in flight finishes.
            reply = await asyncio.wait_for(slow, 10)
            assert reply.deadline_in > 0
        assert shop.process.wait(timeout=20) == 0
        lines = shop.lines()
        msgs = [line["msg"] for line in lines]
        assert "grpc listener closed; draining" in msgs and "shutdown complete" in msgs
        ends = [x for x in lines if x.get("msg") == "end" and x.get("rpc.method") == "Watch"]
        assert ends and ends[-1]["rpc.grpc.status"] == "UNAVAILABLE"


async def test_calls_still_running_at_shutdown_timeout_are_answered_unavailable(
        tmp_path: Path, pb: tuple[ModuleType, ModuleType]) -> None:
    messages, services = pb
    with shop_process(tmp_path, SHUTDOWN_TIMEOUT="1s") as shop:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{shop.grpc}") as channel:
            slow = asyncio.ensure_future(
                services.ShopStub(channel).Slow(messages.SlowRequest(seconds=30)))
            await asyncio.sleep(0.3)
            shop.process.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(slow, 15)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert shop.process.wait(timeout=20) == 0
        assert any(x.get("msg") == "cancelling gRPC calls still running after SHUTDOWN_TIMEOUT"
                   for x in shop.lines())
