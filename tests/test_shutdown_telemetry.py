"""Graceful shutdown of a real Bastion App under load, with its telemetry flushed on exit."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.otlp import otlp_receiver
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_sigterm_drains_100_requests_and_flushes_their_spans(tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    with otlp_receiver() as receiver:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            "PYTHONPATH": str(ROOT),
            "HTTP_ADDR": f"127.0.0.1:{port}",
            "ADMIN_ADDR": f"127.0.0.1:{admin}",
            "SHUTDOWN_DELAY": "300ms",
            "SHUTDOWN_TIMEOUT": "10s",
            "LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            # A long export delay: the spans can only arrive through the flush at exit.
            "OTEL_BSP_SCHEDULE_DELAY": "60000",
        }
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "tests.support.slow_app"], cwd=ROOT,
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, timeout=20)
            limits = httpx.Limits(max_connections=120, max_keepalive_connections=0)
            async with httpx.AsyncClient(limits=limits, timeout=20) as client:
                calls = [
                    asyncio.create_task(client.get(f"http://127.0.0.1:{port}/sleep?s=1"))
                    for _ in range(100)
                ]
                await asyncio.sleep(0.5)  # all 100 are in the handler by now
                assert not receiver.spans()  # nothing exported yet
                proc.send_signal(signal.SIGTERM)
                ready = await client.get(f"http://127.0.0.1:{admin}/readyz")
                assert ready.status_code == 503
                deadline = time.monotonic() + 5
                while not _refused(port) and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                assert _refused(port)  # new connections refused after the delay
                responses = await asyncio.gather(*calls)
            assert [r.status_code for r in responses] == [200] * 100
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        spans = receiver.wait_for_spans(
            lambda spans: sum(s.name == "GET /sleep" for s in spans) >= 100, timeout=5)
        served = [s for s in spans if s.name == "GET /sleep"]
        assert len(served) == 100
        assert {s.attributes["http.response.status_code"] for s in served} == {200}
        text = log.read_text()
        assert "Traceback" not in text
        # Every line, the last one included, is the App's JSON log format.
        lines = text.strip().splitlines()
        assert all(line.startswith("{") for line in lines), lines[-3:]
        assert '"msg":"shutdown complete"' in lines[-1]
