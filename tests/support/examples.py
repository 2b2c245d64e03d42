"""The ported Goa examples (`python -m examples.<name>`) in real processes on 127.0.0.1.

Each runs as `make demo` runs the orders example: its own process, free loopback ports
for the API and the admin listener, JSON logs to a file the test reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Example:
    """A running example: its process, ports and output."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def api(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, Any]]:
        """Every complete line the process wrote, parsed as JSON."""
        text = self.log_path.read_text(errors="replace")
        return [json.loads(x) for x in text[: text.rfind("\n") + 1].splitlines() if x]

    def raw(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send `request` as written on a new connection; return status, headers, body."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall(request)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        return int(lines[0].split()[1]), headers, body


@contextlib.contextmanager
def example(name: str, folder: Path, env: dict[str, str] | None = None) -> Iterator[Example]:
    """Run `python -m examples.<name>` with its working directory `folder`; kill it after."""
    port, admin = free_port(), free_port()
    log_path = folder / f"{name}-{port}.log"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "PYTHONPATH": str(ROOT),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "ADMIN_ADDR": f"127.0.0.1:{admin}",
        "LOG_FORMAT": "json",
        **(env or {}),
    }
    with log_path.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", f"examples.{name}"], cwd=folder,
                                   env=environ, stdout=out, stderr=subprocess.STDOUT)
    running = Example(process, port, log_path)
    try:
        with contextlib.suppress(RuntimeError):  # an early exit is reported below, with its log
            wait_for_port(port, timeout=30, process=process)
        if process.poll() is not None:
            raise RuntimeError(f"examples.{name} exited with {process.returncode}:\n"
                               f"{log_path.read_text()}")
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
