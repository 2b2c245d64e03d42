"""The orders example as a real process on free loopback ports, as `make demo` runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Demo:
    """A running demo process and its addresses."""

    process: subprocess.Popen[bytes]
    api: str
    admin: str
    admin_port: int
    log: Path

    def output(self) -> str:
        """Everything the process wrote so far."""
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def demo(tmp_path: Path, **env: str) -> Iterator[Demo]:
    """Run the orders example like `make demo` does, on free loopback ports."""
    port, admin_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "PYTHONPATH": str(ROOT),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "ADMIN_ADDR": f"127.0.0.1:{admin_port}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
        "LOG_FORMAT": "json",
        "SHUTDOWN_TIMEOUT": "5s",
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "examples.orders"],
            cwd=tmp_path, env=environ, stdout=out, stderr=subprocess.STDOUT,
        )
    running = Demo(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}",
                   admin_port, log)
    try:
        wait_for_port(port, timeout=20)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
