"""A real Prometheus server scraping a test target.

    with serve_in_thread(app) as port, prometheus_server([f"127.0.0.1:{port}"]) as prom:
        ...                                        # make requests to the app
        result = prom.wait_for('http_server_request_duration_seconds_count{http_route="/x"}')

`prometheus_server` starts the Debian `prometheus` binary on a free loopback port with a
generated scrape config (1 s interval by default) and a temporary storage directory;
`query` and `wait_for` use its HTTP API (/api/v1/query). Serve the target with
`tests.support.threaded.serve_in_thread`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import free_port, wait_for_port

__all__ = ["PrometheusServer", "prometheus_server"]


@dataclass
class PrometheusServer:
    """A running Prometheus bound to 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL of the Prometheus HTTP API and UI."""
        return f"http://127.0.0.1:{self.port}"

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query; return the API's `data.result` list."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {body}")
        return list(body["data"]["result"])

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets with their health and last error."""
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        response.raise_for_status()
        return list(response.json()["data"]["activeTargets"])

    def wait_for(
        self,
        promql: str,
        ready: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll `promql` until `ready(result)`; raise TimeoutError naming targets and log."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if ready(result):
                return result
            time.sleep(0.25)
        raise TimeoutError(
            f"{promql!r} not ready after {timeout}s: last result {result}; "
            f"targets {self.targets()}; log tail {self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        """The end of Prometheus' own log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate Prometheus and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _config(targets: Sequence[str], metrics_path: str, interval: str, job: str) -> str:
    quoted = ", ".join(f'"{t}"' for t in targets)
    return (
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  evaluation_interval: {interval}\n"
        "scrape_configs:\n"
        f"  - job_name: {job}\n"
        f"    metrics_path: {metrics_path}\n"
        f"    scrape_interval: {interval}\n"
        f"    scrape_timeout: {interval}\n"
        "    static_configs:\n"
        f"      - targets: [{quoted}]\n"
    )


@contextlib.contextmanager
def prometheus_server(
    targets: Sequence[str],
    *,
    metrics_path: str = "/metrics",
    scrape_interval: str = "1s",
    job: str = "bastion",
) -> Iterator[PrometheusServer]:
    """Start Prometheus on a free loopback port scraping `targets` ("127.0.0.1:port")."""
    exe = shutil.which("prometheus")
    if exe is None:
        raise RuntimeError("prometheus is not installed: `apt-get install prometheus`")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bastion-prom-") as tmp:
        config = Path(tmp, "prometheus.yml")
        config.write_text(_config(targets, metrics_path, scrape_interval, job))
        log_path = Path(tmp, "prometheus.log")
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    exe,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={Path(tmp, 'data')}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp,
            )
        server = PrometheusServer(port, proc, log_path)
        try:
            wait_for_port(port, timeout=30)
            deadline = time.monotonic() + 30
            while True:  # the port opens before the TSDB is ready for queries
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"prometheus did not become ready: {server.log_tail()}")
                time.sleep(0.1)
            yield server
        finally:
            server.stop()
