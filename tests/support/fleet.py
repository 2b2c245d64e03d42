"""A fleet of orders examples behind haproxy, sharing Redis, exporting to one receiver.

    with fleet(tmp_path, prometheus=True) as f:
        httpx.get(f.balancer.url + "/ping")              # through haproxy
        f.instances[0].api                                # one instance directly
        f.restart(0)                                      # SIGTERM, wait, start it again

Each instance is `python -m examples.orders` on ports of its own (kept across restarts,
as a pod keeps its address), with `REDIS_URL` on one `redis-server`, one SQLite database
for the fleet, `OTEL_EXPORTER_OTLP_ENDPOINT` on one OTLP receiver and
`OTEL_RESOURCE_ATTRIBUTES=service.instance.id=<name>`. haproxy (tests/support/haproxy.py)
balances the API ports and checks `/readyz` on the admin ports; Prometheus, when asked
for, scrapes every admin port. `Load` keeps a steady stream of requests going through
the balancer in a thread of its own and counts what failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from bastion.security import APIKeyStore
from tests.support.haproxy import Backend, HAProxy, haproxy
from tests.support.orders import ROOT, Orders
from tests.support.otlp import OTLPReceiver, otlp_receiver
from tests.support.prometheus import PrometheusServer, prometheus_server
from tests.support.servers import RedisServer, free_port, redis_server

__all__ = ["Fleet", "Instance", "Load", "LoadResult", "Restart", "Shot", "fleet"]

#: The issuer the example requires in its tokens (its default JWT_ISSUER).
ISSUER = "orders-demo"


@dataclass
class Instance:
    """One member of the fleet: fixed ports, its environment, and its current process."""

    name: str
    port: int
    admin_port: int
    folder: Path
    env: dict[str, str]
    #: What `python -m` runs: the orders example, or a variant of it.
    module: str = "examples.orders"
    #: The running process (the latest start); earlier ones are in `previous`.
    current: Orders | None = None
    previous: list[Orders] = field(default_factory=list)
    exit_statuses: list[int] = field(default_factory=list)

    @property
    def api(self) -> str:
        """The instance's own API URL (bypassing the balancer)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        """The instance's admin URL (probes, /metrics)."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def pid(self) -> int:
        """The process id of the running process."""
        return self.running.pid

    @property
    def running(self) -> Orders:
        """The running process, or an error when it is not started."""
        if self.current is None:
            raise RuntimeError(f"instance {self.name} is not running")
        return self.current

    def start(self, timeout: float = 30.0) -> Orders:
        """Start the example on this instance's ports; return once `/readyz` answers 200."""
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> Orders:
        """Start the example's process on this instance's ports (not waiting for it)."""
        generation = len(self.previous) + (self.current is not None)
        log_path = self.folder / f"{self.name}-{generation}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", self.module],
                                       cwd=self.folder, env=self.env, stdout=out,
                                       stderr=subprocess.STDOUT)
        if self.current is not None:
            self.previous.append(self.current)
        self.current = Orders(process, self.port, self.admin_port, log_path)
        return self.current

    def wait_ready(self, timeout: float = 30.0) -> Orders:
        """Block until the running process answers `/readyz` with 200 on its admin port."""
        running = self.running
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.admin + "/readyz", timeout=1).status_code == 200:
                    return running
            if running.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"instance {self.name} did not become ready "
                                   f"(exit status {running.process.poll()}):\n"
                                   f"{running.output()[-3000:]}")
            time.sleep(0.05)

    def terminate(self) -> None:
        """Send SIGTERM: readiness turns 503 and the drain begins."""
        self.running.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit; record and return its status."""
        status = self.running.process.wait(timeout=timeout)
        self.exit_statuses.append(status)
        return status

    def kill(self) -> None:
        """Kill the process if it still runs (cleanup)."""
        if self.current is not None and self.current.process.poll() is None:
            self.current.process.kill()
            self.current.process.wait(timeout=10)

    def outputs(self) -> str:
        """The output of every process this instance ran, oldest first."""
        runs = [*self.previous, *([self.current] if self.current else [])]
        return "".join(run.output() for run in runs)


@dataclass
class Restart:
    """How long each step of one instance's restart took, in seconds from its SIGTERM."""

    instance: str
    out_of_rotation: float  # haproxy marked it DOWN
    exited: float  # the old process exited (status 0 expected)
    ready: float  # the new process answered /readyz 200
    back_in_rotation: float  # haproxy marked it UP
    exit_status: int


@dataclass
class Fleet:
    """Two (or more) orders examples behind haproxy, with the parts they share."""

    instances: list[Instance]
    balancer: HAProxy
    redis: RedisServer
    otlp: OTLPReceiver
    prometheus: PrometheusServer | None
    folder: Path
    jwt_secret: str
    api_keys: dict[str, str]

    def token(self, scopes: Sequence[str], subject: str = "fleet-user", ttl: int = 600) -> str:
        """An HS256 token the instances accept, signed with the fleet's secret."""
        now = int(time.time())
        claims = {"sub": subject, "iss": ISSUER, "iat": now, "nbf": now, "exp": now + ttl,
                  "scope": " ".join(scopes)}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def restart(self, index: int, timeout: float = 30.0) -> Restart:
        """Restart instance `index` as a rolling update does; measure each step."""
        instance = self.instances[index]
        start = time.monotonic()
        instance.terminate()
        down = self.balancer.wait_for_status(instance.name, "DOWN", timeout)
        status = instance.wait(timeout)
        exited = time.monotonic()
        instance.start(timeout)
        ready = time.monotonic()
        up = self.balancer.wait_for_status(instance.name, "UP", timeout)
        return Restart(instance.name, down - start, exited - start, ready - start,
                       up - start, status)


@contextlib.contextmanager
def fleet(
    folder: Path,
    *,
    size: int = 2,
    env: dict[str, str] | None = None,
    prometheus: bool = False,
    check_interval_ms: int = 150,
    module: str = "examples.orders",
    retries: int = 3,
) -> Iterator[Fleet]:
    """Start `size` orders examples, Redis, an OTLP receiver, haproxy (and Prometheus).

    `env` is added to every instance's environment; `retries` is haproxy's (see
    tests/support/haproxy.py).
    """
    folder.mkdir(parents=True, exist_ok=True)
    secret = APIKeyStore.generate()  # 256 random bits: an HS256 secret as good as any
    keys = {f"client-{i}": APIKeyStore.generate() for i in range(1, 5)}
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server())
        receiver = stack.enter_context(otlp_receiver())
        instances = []
        for i in range(1, size + 1):
            name = f"orders-{i}"
            port, admin_port = free_port(), free_port()
            environ = {
                **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
                "PYTHONPATH": str(ROOT),
                "HTTP_ADDR": f"127.0.0.1:{port}",
                "ADMIN_ADDR": f"127.0.0.1:{admin_port}",
                "GRPC_ADDR": f"127.0.0.1:{free_port()}",  # each instance its own gRPC port
                "DATABASE_URL": f"sqlite:///{folder / 'orders.db'}",  # one for the fleet
                "LOG_FORMAT": "json",
                "REDIS_URL": redis.url,
                "JWT_SECRET": secret,
                "API_KEYS": ",".join(f"{client}:{key}" for client, key in keys.items()),
                "SHUTDOWN_DELAY": "1s",
                "SHUTDOWN_TIMEOUT": "10s",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={name}",
                "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach the receiver quickly
                **(env or {}),
            }
            instances.append(Instance(name, port, admin_port, folder, environ, module))
        for instance in instances:
            stack.callback(instance.kill)
        for instance in instances:  # the processes start side by side
            instance.spawn()
        for instance in instances:
            instance.wait_ready()
        backends = [Backend(x.name, x.port, x.admin_port) for x in instances]
        balancer = stack.enter_context(
            haproxy(backends, folder / "haproxy", check_interval_ms=check_interval_ms,
                    retries=retries))
        for instance in instances:
            balancer.wait_for_status(instance.name, "UP")
        prom = None
        if prometheus:
            prom = stack.enter_context(prometheus_server(
                [f"127.0.0.1:{x.admin_port}" for x in instances], scrape_interval="500ms"))
        yield Fleet(instances, balancer, redis, receiver, prom, folder, secret, keys)


@dataclass(frozen=True)
class Shot:
    """One kind of request the load sends, and the status it must get."""

    method: str
    path: str
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None


@dataclass
class LoadResult:
    """What the load sent and what came back."""

    sent: int = 0
    #: Answers counted by (method, path, status or exception name).
    answers: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: Every request that did not get its expected status: (seconds from start, shot,
    #: status or exception, the server that answered).
    failures: list[tuple[float, str, str, str]] = field(default_factory=list)
    #: Requests answered per server (X-Served-By).
    by_server: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Load:
    """A steady stream of requests through the balancer, from a thread of its own.

    `concurrency` clients each send the shots in turn, keeping their connection to the
    balancer alive, pausing `pause` seconds between requests.
    """

    def __init__(self, url: str, shots: Sequence[Shot], *, concurrency: int = 4,
                 pause: float = 0.01) -> None:
        self.url = url
        self.shots = list(shots)
        self.concurrency = concurrency
        self.pause = pause
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fleet-load", daemon=True)
        self._started = 0.0

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sent(self) -> int:
        """Requests answered so far (or failed)."""
        with self._lock:
            return self.result.sent

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Block until `count` more requests have been sent."""
        target = self.sent() + count
        deadline = time.monotonic() + timeout
        while self.sent() < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise TimeoutError(f"the load sent {self.sent()} of {target} requests")
            time.sleep(0.02)

    def stop(self) -> LoadResult:
        """Stop sending (requests in flight finish) and return the result."""
        self._stop.set()
        self._thread.join(timeout=60)
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def _record(self, shot: Shot, answer: str, server: str, when: float) -> None:
        with self._lock:
            result = self.result
            result.sent += 1
            key = (shot.method, shot.path, answer)
            result.answers[key] = result.answers.get(key, 0) + 1
            result.by_server[server] = result.by_server.get(server, 0) + 1
            if answer != str(shot.expect):
                result.failures.append((when, f"{shot.method} {shot.path}", answer, server))

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=15) as client:
            await asyncio.gather(*(self._client(client, i) for i in range(self.concurrency)))

    async def _client(self, client: httpx.AsyncClient, offset: int) -> None:
        i = offset
        while not self._stop.is_set():
            shot = self.shots[i % len(self.shots)]
            i += 1
            server = "-"
            try:
                response = await client.request(shot.method, shot.path, headers=shot.headers,
                                                json=shot.json)
                answer = str(response.status_code)
                server = response.headers.get("x-served-by", "-")
            except httpx.HTTPError as exc:
                answer = type(exc).__name__
            self._record(shot, answer, server, time.monotonic() - self._started)
            await asyncio.sleep(self.pause)
