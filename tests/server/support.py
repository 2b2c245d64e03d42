"""Helpers for the server tests: the sample app (or another) in a real server process.

Speak to it with the raw HTTP/1.1 helpers of `tests.support.rawhttp`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.servers import free_port, wait_for_port


@dataclass
class Running:
    """A server process serving tests/server/app.py on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int
    admin_port: int
    markers: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> str:
        """Everything the server wrote so far (its log lines and anything on stderr)."""
        return self.log_path.read_text(errors="replace")

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """Open a TCP connection to the API port."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the server process."""
        self.process.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit; return its status."""
        return self.process.wait(timeout=timeout)

    def marker_pids(self, kind: str) -> set[int]:
        """The pids that wrote a `kind` marker (startup or shutdown) from their lifespan."""
        return {int(p.name.split("-", 1)[1]) for p in self.markers.glob(f"{kind}-*")}


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *,
    main_module: bool = False,
    wait: bool = True,
    app_ref: str = "tests.server.app:app",
) -> Iterator[Running]:
    """Start the sample app (or `app_ref`) on free loopback ports with `env`; kill it on exit."""
    port, admin_port = free_port(), free_port()
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    log_path = tmp_path / f"server-{port}.log"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "ADMIN_ADDR": f"127.0.0.1:{admin_port}",
        "BASTION_TEST_MARKERS": str(markers),
        **(env or {}),
    }
    command = (
        [sys.executable, "-m", "tests.server.app"]
        if main_module
        else [sys.executable, "-c", f"from bastion.server import run; run({app_ref!r})"]
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    running = Running(process, port, admin_port, markers, log_path, dict(env or {}))
    try:
        if wait:
            wait_for_port(port, timeout=20.0)
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{running.log}")
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        # A worker whose parent was killed would outlive the test: end it, checking first
        # that the pid is still one of ours.
        for pid in running.marker_pids("startup"):
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
