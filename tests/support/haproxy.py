"""A real haproxy in front of test servers, on 127.0.0.1 only.

    backends = [Backend("orders-1", api_port, admin_port), Backend("orders-2", ...)]
    with haproxy(backends, tmp_path) as lb:
        httpx.get(lb.url + "/ping")          # round robin over the backends that are UP
        lb.wait_for_status("orders-1", "DOWN")

Debian's `haproxy` runs in the foreground with a generated config: one HTTP frontend on a
free loopback port, one backend whose servers are health-checked with `GET /readyz` on
their admin port (a 503 takes a server out of the rotation; its requests in flight go
on), and a runtime API on a Unix socket in the test's folder, read through `stats()`.
Each request is logged as one JSON line (status, server, retries, termination state),
read back with `requests()`. haproxy is told the client's address with `option
forwardfor` (`X-Forwarded-For`) and names the server that answered in `X-Served-By`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.servers import free_port

__all__ = ["Backend", "HAProxy", "haproxy"]

#: One JSON object per request; `%rc` is quoted because a redispatch writes it as "+1".
_LOG_FORMAT = (
    '{"status":%ST,"server":"%s","retries":"%rc","state":"%tsc","method":"%HM",'
    '"path":"%HP","client":"%ci","time_ms":%Tt}'
)


@dataclass(frozen=True)
class Backend:
    """A server behind the balancer: its API port and the admin port its checks go to."""

    name: str
    port: int
    check_port: int


@dataclass
class HAProxy:
    """A running haproxy: its port, runtime socket and logs."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    backend: str = "instances"

    @property
    def url(self) -> str:
        """The balancer's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        """The runtime API's Unix socket."""
        return self.folder / "haproxy.sock"

    @property
    def log_path(self) -> Path:
        """haproxy's standard output: request lines and server state changes."""
        return self.folder / "haproxy.log"

    def command(self, line: str) -> str:
        """Send one command to the runtime API and return its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket_path))
            conn.sendall(line.encode() + b"\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        return answer.decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend, by server name (and `BACKEND`), as CSV fields."""
        text = self.command("show stat").removeprefix("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {row["svname"]: row for row in rows if row["pxname"] == self.backend}

    def frontend_stats(self) -> dict[str, str]:
        """`show stat` of the frontend (what clients were answered)."""
        text = self.command("show stat").removeprefix("# ")
        rows = csv.DictReader(io.StringIO(text))
        return next(row for row in rows if row["svname"] == "FRONTEND")

    def status(self, server: str) -> str:
        """The health state haproxy gives `server`: `UP`, `DOWN`, or a transition."""
        return self.stats()[server]["status"]

    def wait_for_status(self, server: str, status: str, timeout: float = 15.0) -> float:
        """Block until `server` is `status`; return when that was seen (monotonic seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.status(server)
            if current == status:
                return time.monotonic()
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise TimeoutError(f"server {server} is {current!r}, not {status!r}, after "
                                   f"{timeout}s:\n{self.output()[-3000:]}")
            time.sleep(0.01)

    def output(self) -> str:
        """Everything haproxy wrote so far."""
        return self.log_path.read_text(errors="replace")

    def requests(self) -> list[dict[str, Any]]:
        """The request log: one dict per request haproxy answered, in order."""
        return [json.loads(line) for line in self.output().splitlines()
                if line.startswith("{") and line.endswith("}")]

    def stop(self) -> None:
        """Stop haproxy (SIGTERM) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def config(
    port: int,
    backends: Sequence[Backend],
    socket_path: Path,
    *,
    check_interval_ms: int,
    fall: int,
    rise: int,
    retries: int,
) -> str:
    """The haproxy configuration the runner starts (also shown in docs/fleet.md)."""
    redispatch = "\n    option redispatch 1" if retries else ""
    servers = "\n".join(
        f"    server {b.name} 127.0.0.1:{b.port} check port {b.check_port}" for b in backends)
    return f"""\
global
    log stdout format raw local0 info
    stats socket {socket_path} mode 600 level admin
    maxconn 2000

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    timeout check 1s
    # A refused connection (an instance not listening) is retried on the other one;
    # nothing that reached an instance is sent twice.
    retries {retries}{redispatch}

frontend api
    bind 127.0.0.1:{port}
    option forwardfor
    log-format '{_LOG_FORMAT}'
    http-response set-header X-Served-By %s
    default_backend instances

backend instances
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server inter {check_interval_ms}ms fall {fall} rise {rise}
{servers}
"""


@contextlib.contextmanager
def haproxy(
    backends: Sequence[Backend],
    folder: Path,
    *,
    check_interval_ms: int = 150,
    fall: int = 2,
    rise: int = 1,
    retries: int = 3,
) -> Iterator[HAProxy]:
    """Run haproxy on a free 127.0.0.1 port in front of `backends`; stop it after.

    `retries=0` makes it a balancer that never retries a refused connection (nor sends
    it to another server), as a plain TCP one does.
    """
    exe = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/sbin/haproxy") if Path(p).exists()), None)
    if exe is None:
        raise RuntimeError("haproxy is not installed: `apt-get install haproxy`")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg = folder / "haproxy.cfg"
    cfg.write_text(config(port, backends, folder / "haproxy.sock",
                          check_interval_ms=check_interval_ms, fall=fall, rise=rise,
                          retries=retries))
    check = subprocess.run([exe, "-c", "-q", "-f", str(cfg)], capture_output=True, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy refused its config: {check.stderr.decode()}")
    with (folder / "haproxy.log").open("wb") as out:
        # -db: stay in the foreground, so the test owns the process and its output.
        process = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdout=out,
                                   stderr=subprocess.DEVNULL)
    balancer = HAProxy(port, process, folder)
    try:
        # Waiting on the runtime API, not on the port: a probe connection would be a
        # request error in the frontend's counts. haproxy binds its ports before it
        # serves the API.
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                if "Name: HAProxy" in balancer.command("show info"):
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"haproxy did not start:\n{balancer.output()}")
            time.sleep(0.02)
        yield balancer
    finally:
        balancer.stop()
