"""Graceful shutdown against a real server process: signals, delay, drain, lifespan, exit.

The last test runs a real Bastion App and checks that its telemetry is flushed on exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.server.support import Running, running_server
from tests.support.otlp import otlp_receiver
from tests.support.paths import ROOT
from tests.support.rawhttp import read_response, request_bytes
from tests.support.servers import free_port, wait_for_port
from tests.support.waiting import until

pytestmark = pytest.mark.integration


def _admin(running: Running, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{running.admin_port}{path}", timeout=5)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_sigterm_under_load_drains_100_requests_then_exits_0(tmp_path: Path) -> None:
    env = {"SHUTDOWN_DELAY": "300ms", "SHUTDOWN_TIMEOUT": "10s", "WRITE_TIMEOUT": "20s"}
    with running_server(tmp_path, env) as server:
        limits = httpx.Limits(max_connections=120, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=20) as client:
            url = f"http://127.0.0.1:{server.port}/sleep?s=1"
            calls = [asyncio.create_task(client.get(url)) for _ in range(100)]
            await until(lambda: int(_admin(server, "/active").text) == 100)
            assert _admin(server, "/readyz").status_code == 200

            signalled = time.monotonic()
            server.signal(signal.SIGTERM)
            # Readiness turns 503 at once, long before the listener closes.
            await until(lambda: _admin(server, "/readyz").status_code == 503, timeout=2)
            assert time.monotonic() - signalled < 0.3

            await until(lambda: _refused(server.port), timeout=5)
            closed_after = time.monotonic() - signalled
            assert closed_after >= 0.25  # the listener stayed open for SHUTDOWN_DELAY

            responses = await asyncio.gather(*calls)
        assert [r.status_code for r in responses] == [200] * 100
        assert all(r.text == "slept" for r in responses)
        assert server.wait(timeout=10) == 0
        assert _refused(server.port)
        # The lifespan shutdown ran after the drain (where the App flushes telemetry).
        assert server.marker_pids("shutdown") == {server.process.pid}
        assert "shutdown complete" in server.log
        assert "Traceback" not in server.log


def test_requests_past_shutdown_timeout_are_cancelled_and_logged(tmp_path: Path) -> None:
    env = {"SHUTDOWN_TIMEOUT": "1s", "WRITE_TIMEOUT": "60s"}
    rid = f"late-{uuid.uuid4().hex[:10]}"
    with running_server(tmp_path, env) as server, server.connect() as sock:
        sock.sendall(request_bytes("GET", "/sleep?s=30", {"X-Request-ID": rid}))
        deadline = time.monotonic() + 10
        while int(_admin(server, "/active").text) != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        signalled = time.monotonic()
        server.signal(signal.SIGINT)
        response = read_response(sock, timeout=10)
        elapsed = time.monotonic() - signalled
        assert response.status == 503
        body = json.loads(response.body)
        assert body["name"] == "unavailable"
        assert body["temporary"] is True
        assert response.headers["x-request-id"] == rid
        assert 0.9 <= elapsed < 3.0
        assert server.wait(timeout=10) == 0
    assert rid in server.log
    assert "SHUTDOWN_TIMEOUT" in server.log
    assert server.marker_pids("shutdown") == {server.process.pid}


def test_a_second_signal_exits_at_once_with_status_1(tmp_path: Path) -> None:
    with running_server(tmp_path, {"SHUTDOWN_TIMEOUT": "30s"}) as server, \
            server.connect() as sock:
        sock.sendall(request_bytes("GET", "/sleep?s=30"))
        time.sleep(0.3)
        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        signalled = time.monotonic()
        server.signal(signal.SIGINT)
        assert server.wait(timeout=5) == 1
        assert time.monotonic() - signalled < 2.0
    assert server.marker_pids("shutdown") == set()  # no drain, no lifespan shutdown
    assert "again: exiting now" in server.log


def test_a_failed_lifespan_startup_never_listens_and_exits_3(tmp_path: Path) -> None:
    with running_server(tmp_path, {"SAMPLE_FAIL_STARTUP": "1"}, wait=False) as server:
        assert server.wait(timeout=20) == 3
        assert _refused(server.port)
    assert "database down" in server.log


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
