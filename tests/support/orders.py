"""The orders example (`python -m examples.orders`) in a real process on free loopback ports.

For tests and scripts that play clients against the whole stack: the App's request log,
its JSON errors, `X-Request-ID`, probes and `/metrics` on the admin port.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT
from tests.support.servers import free_port, wait_for_port


@dataclass
class Orders:
    """A running orders example: its process, ports and output."""

    process: subprocess.Popen[bytes]
    port: int
    admin_port: int
    log_path: Path
    grpc_port: int = 0

    @property
    def grpc_target(self) -> str:
        """The gRPC listener's address, as a grpcio channel takes it."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int:
        """The serving process's id."""
        return self.process.pid

    @property
    def api(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        """The admin listener's base URL."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def log(self) -> Path:
        """The file holding the process's output."""
        return self.log_path

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """Open a TCP connection to the API port."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def output(self) -> str:
        """Everything the process wrote so far, stdout and stderr together."""
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[dict[str, Any]]:
        """Every complete line of output, parsed as JSON (raises on one that is not)."""
        text = self.output()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line]

    def wait_for_line(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first log line `match` accepts, waiting up to `timeout` s for it to be written."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines():
                if match(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no such log line after {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def end_line(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The request log's `end` line of request `request_id`."""
        return self.wait_for_line(
            lambda line: line.get("msg") == "end" and line.get("request_id") == request_id,
            timeout)

    def metrics(self) -> str:
        """The Prometheus text the admin port serves on /metrics."""
        url = f"http://127.0.0.1:{self.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM the process, wait for it to exit and return its status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextlib.contextmanager
def orders_example(folder: Path, env: dict[str, str] | None = None) -> Iterator[Orders]:
    """Run the orders example in `folder` with `env` (JSON logs, SQLite there); kill it after."""
    port, admin_port, grpc_port = free_port(), free_port(), free_port()
    log_path = folder / f"orders-{port}.log"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "PYTHONPATH": str(ROOT),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "ADMIN_ADDR": f"127.0.0.1:{admin_port}",
        "GRPC_ADDR": f"127.0.0.1:{grpc_port}",
        "DATABASE_URL": f"sqlite:///{folder / f'orders-{port}.db'}",
        "LOG_FORMAT": "json",
        **(env or {}),
    }
    with log_path.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "examples.orders"], cwd=folder,
                                   env=environ, stdout=out, stderr=subprocess.STDOUT)
    running = Orders(process, port, admin_port, log_path, grpc_port)
    try:
        wait_for_port(port, timeout=30)
        if process.poll() is None and environ["GRPC_ADDR"]:
            wait_for_port(grpc_port, timeout=30)  # opened right after the HTTP listener
        if process.poll() is not None:
            raise RuntimeError(f"the example exited with {process.returncode}:\n"
                               f"{running.output()}")
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def demo(tmp_path: Path, **env: str) -> Iterator[Orders]:
    """Run the example as `make demo` does, its database `orders.db` in `tmp_path`."""
    defaults = {"DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}", "SHUTDOWN_TIMEOUT": "5s"}
    with orders_example(tmp_path, {**defaults, **env}) as running:
        yield running


#: A running example, as the end-to-end tests name it.
Demo = Orders


def metric_count(metrics: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include all of `labels`."""
    total = 0.0
    for line in metrics.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match["value"])
    return total


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
