"""WORKERS=n: n processes on one port, each with its own lifespan, restarted, drained together."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server.support import Running, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def _live_workers(server: Running) -> set[int]:
    return {pid for pid in server.marker_pids("startup") if Path(f"/proc/{pid}").exists()
            and b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}


def test_workers_share_the_port_restart_and_drain(tmp_path: Path) -> None:
    env = {"WORKERS": "2", "SHUTDOWN_TIMEOUT": "10s"}
    # Served from the main module, as `bastion.run(app)` in main.py does.
    with running_server(tmp_path, env, main_module=True) as server:
        base = f"http://127.0.0.1:{server.port}"
        wait_until(lambda: len(_live_workers(server)) == 2, timeout=20)
        workers = _live_workers(server)
        assert server.process.pid not in workers  # each worker ran its own lifespan
        pids = {int(httpx.get(f"{base}/pid", timeout=10).text) for _ in range(10)}
        assert pids <= workers

        victim = next(iter(workers))
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(_live_workers(server)) == 2
                   and victim not in _live_workers(server), timeout=20)
        workers = _live_workers(server)
        assert httpx.get(f"{base}/", timeout=10).status_code == 200
        # The supervisor's writer thread may write the line a moment after the new worker
        # is up.
        wait_until(lambda: "exited with status -9: starting a new one" in server.log,
                   timeout=10)

        results: list[int] = []
        thread = threading.Thread(
            target=lambda: results.append(httpx.get(f"{base}/sleep?s=1", timeout=10).status_code)
        )
        thread.start()
        time.sleep(0.3)
        server.signal(signal.SIGTERM)
        thread.join()
        assert results == [200]  # in flight when SIGTERM came: drained, not dropped
        assert server.wait(timeout=20) == 0
        assert server.marker_pids("shutdown") == workers
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    assert '"msg":"Sample API: serving"' in server.log
    assert '"workers":2' in server.log


def test_workers_exit_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with running_server(tmp_path, {"WORKERS": "2", "SHUTDOWN_TIMEOUT": "5s"},
                        main_module=True) as server:
        wait_until(lambda: len(_live_workers(server)) == 2, timeout=20)
        workers = _live_workers(server)
        server.signal(signal.SIGKILL)  # no drain, no relay: the workers are orphans now
        server.wait(timeout=10)
        # Each notices it was re-parented, drains (its lifespan shutdown runs) and exits.
        wait_until(lambda: not _live_workers(server), timeout=20)
        assert server.marker_pids("shutdown") == workers
        assert "the supervisor is gone: draining and exiting" in server.log


def test_a_sigterm_while_the_workers_import_the_app_stops_them_cleanly(tmp_path: Path) -> None:
    # A worker cannot handle SIGTERM before its server runs; the signal waits for it
    # (blocked, not lost, not fatal) and the worker then drains like any other.
    env = {"WORKERS": "2", "SHUTDOWN_TIMEOUT": "10s", "SAMPLE_SLOW_IMPORT": "2"}
    with running_server(tmp_path, env) as server:
        wait_until(lambda: len(server.marker_pids("importing")) == 2, timeout=20)
        assert server.marker_pids("startup") == set()  # both still importing
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert "all workers stopped" in server.log
        assert '"statuses":[0,0]' in server.log
        assert server.marker_pids("shutdown") == server.marker_pids("importing")
