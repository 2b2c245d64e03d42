"""Health checks: a checker that pings dependencies, and the `/livez`, `/readyz`, `/healthz` app.

A `Checker` runs every check concurrently, each under its own timeout, and caches the
report for a short time so that a storm of probes costs the dependencies one round of
pings. A check that fails is logged once when it turns bad and once when it recovers,
never on every probe. Each ping runs in its own CLIENT span, `health.ping.<name>` as in
Clue, linked to the probe request that started the round, and the HTTP pinger sends
that span's `traceparent` to the dependency.
"""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

import msgspec
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode, Tracer

from bastion import log
from bastion._asgi import (
    header,
    local_path,
    method_not_allowed,
    respond,
    respond_error,
    respond_json,
)
from bastion.errors import BastionError, ConfigError
from bastion.otel._env import W3CPropagator
from bastion.otel._tracing import parse_traceparent
from bastion.redact import REDACTED
from bastion.types import ASGIApp, Receive, Scope, Send

_JSON = msgspec.json.Encoder()

if TYPE_CHECKING:
    import httpx  # imported by the first HTTP ping: most services ping no HTTP peer

__all__ = [
    "PROBE_PATHS",
    "Check",
    "Checker",
    "HTTPPinger",
    "HealthReport",
    "PingError",
    "Pinger",
    "RedisPinger",
    "SQLPinger",
    "health_app",
]

#: The probe paths `health_app` serves; request logs and traces skip them by default.
PROBE_PATHS: frozenset[str] = frozenset({"/livez", "/readyz", "/healthz"})

OK = "OK"
NOT_OK = "NOT OK"
#: The instrumentation scope of the ping spans.
TRACER_NAME = "bastion.health"

CheckFunc = Callable[[], Awaitable[None]]


@runtime_checkable
class Pinger(Protocol):
    """A dependency the checker pings: `ping()` returns when healthy and raises otherwise."""

    @property
    def name(self) -> str:
        """The dependency's name in the `/healthz` body, e.g. "database"."""
        ...

    async def ping(self) -> None:
        """Return if the dependency is healthy; raise if it is not."""
        ...


class PingError(BastionError, ConnectionError):
    """A dependency answered badly. The message is safe to log: it carries no credential."""


@dataclass(frozen=True, slots=True)
class Check:
    """A named custom check: `fn` is an `async def` that raises when unhealthy."""

    name: str
    fn: CheckFunc
    timeout: float | None = None

    async def ping(self) -> None:
        """Run the check function."""
        await self.fn()


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The result of one round of checks."""

    #: True when every dependency answered OK.
    healthy: bool
    #: Dependency name to "OK" or "NOT OK", in registration order (Clue's `status` map).
    status: Mapping[str, str]
    #: Dependency name to a short reason, for failed checks only. For logs, never for bodies.
    errors: Mapping[str, str] = field(default_factory=dict)

    def body(self, *, uptime: int, version: str) -> dict[str, Any]:
        """Return Clue's health body: `{"uptime": s, "version": v, "status": {...}}`.

        Dependencies are in sorted order and `status` is left out when there are none,
        as Go's encoder writes Clue's `Health` struct.
        """
        body: dict[str, Any] = {"uptime": uptime, "version": version}
        if self.status:
            body["status"] = dict(sorted(self.status.items()))
        return body


class Checker:
    """Pings dependencies concurrently and caches the report for `cache_ttl` seconds.

    Pingers are objects with a `name` and an `async ping()`, or plain `async def`
    functions (named by `__name__`). Each check runs under its own timeout: the pinger's
    `timeout` attribute if it has one, else `timeout`. Probes that arrive while a round
    of checks is running wait for that round instead of starting another. Changes of
    state are logged to `logger`, or to the context's logger (`log.use`) when None.
    Ping spans go to `tracer` (the App passes its telemetry's), else to the
    OpenTelemetry API's global tracer provider.
    """

    def __init__(
        self,
        *pingers: Pinger | CheckFunc,
        cache_ttl: float = 1.0,
        timeout: float = 1.0,
        logger: log.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        tracer: Tracer | None = None,
    ) -> None:
        problems = []
        if not cache_ttl >= 0:
            problems.append(f"health cache_ttl must be >= 0 seconds, got {cache_ttl!r}")
        if not timeout > 0:
            problems.append(f"health timeout must be > 0 seconds, got {timeout!r}")
        if problems:
            raise ConfigError(problems)
        self.cache_ttl = cache_ttl
        self.timeout = timeout
        self._clock = clock
        self._logger = logger
        self._tracer = tracer or trace.get_tracer(TRACER_NAME)
        self._pingers: list[Pinger] = []
        self._report: HealthReport | None = None
        self._checked_at = 0.0
        self._inflight: asyncio.Task[HealthReport] | None = None
        # Last known state per dependency, so a failure is logged once per change.
        self._healthy: dict[str, bool] = {}
        self.add(*pingers)

    def add(self, *pingers: Pinger | CheckFunc) -> None:
        """Register more dependencies (the App adds its own at startup)."""
        names = {p.name for p in self._pingers}
        for item in pingers:
            pinger = _as_pinger(item)
            if pinger.name in names:
                raise ConfigError([f"health check {pinger.name!r} is registered twice"])
            names.add(pinger.name)
            self._pingers.append(pinger)
        self._report = None

    @property
    def last_report(self) -> HealthReport | None:
        """The most recent report, however old, or None before the first check."""
        return self._report

    @property
    def names(self) -> tuple[str, ...]:
        """The registered dependency names, in registration order."""
        return tuple(p.name for p in self._pingers)

    async def check(self, *, link: SpanContext | None = None) -> HealthReport:
        """Return the health of every dependency, from cache when it is fresh enough.

        The ping spans of a new round are linked to `link`, else to the current span
        (the probe request's), when it is valid.
        """
        report = self._report
        if report is not None and self._clock() - self._checked_at < self.cache_ttl:
            return report
        loop = asyncio.get_running_loop()
        task = self._inflight
        if task is None or task.done() or task.get_loop() is not loop:
            if link is None or not link.is_valid:
                link = trace.get_current_span().get_span_context()
            links = (Link(link),) if link.is_valid else ()
            task = loop.create_task(self._run(links), name="bastion-health-check")
            self._inflight = task
        # A probe whose client goes away must not cancel the round other probes wait on.
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """Close the pingers' clients (HTTP, Redis)."""
        for pinger in self._pingers:
            close = getattr(pinger, "aclose", None)
            if close is not None:
                await close()

    async def __aenter__(self) -> Checker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, links: tuple[Link, ...]) -> HealthReport:
        try:
            pingers = list(self._pingers)
            results = await asyncio.gather(*(self._traced_ping(p, links) for p in pingers))
            errors = {p.name: err for p, err in zip(pingers, results, strict=True) if err}
            report = HealthReport(
                healthy=not errors,
                status={p.name: NOT_OK if p.name in errors else OK for p in pingers},
                errors=errors,
            )
            self._log_changes(report)
            self._report = report
            self._checked_at = self._clock()
            return report
        finally:
            self._inflight = None

    async def _traced_ping(self, pinger: Pinger, links: tuple[Link, ...]) -> str | None:
        # A root span (empty parent context): one round answers many probes, so the
        # probe that started it is a link, not a parent.
        name = f"health.ping.{pinger.name}"
        with self._tracer.start_as_current_span(
            name,
            context=Context(),
            kind=SpanKind.CLIENT,
            attributes={"name": name},
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            error = await self._ping(pinger)
            if error is None:
                span.set_status(StatusCode.OK)
            else:
                span.record_exception(PingError(error))
                span.set_status(StatusCode.ERROR, "ping failed")
        return error

    async def _ping(self, pinger: Pinger) -> str | None:
        timeout = getattr(pinger, "timeout", None) or self.timeout
        try:
            async with asyncio.timeout(timeout):
                await pinger.ping()
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except PingError as err:
            return str(err)  # already says what failed, without credentials
        except Exception as err:
            return _describe(err)
        return None

    def _log_changes(self, report: HealthReport) -> None:
        for name, status in report.status.items():
            healthy = status == OK
            # Unknown dependencies count as healthy, so the first failure is logged.
            if self._healthy.get(name, True) != healthy:
                self._log(name, healthy, report.errors.get(name, ""))
            self._healthy[name] = healthy

    def _log(self, name: str, healthy: bool, reason: str) -> None:
        logger = self._logger
        if healthy:
            if logger is None:
                log.info("health check recovered", check=name)
            else:
                logger.write_line("info", "health check recovered", {"check": name})
        elif logger is None:
            log.error(PingError(reason), "health check failed", check=name)
        else:
            logger.write_line(
                "error", "health check failed", {"err": PingError(reason), "check": name}
            )


def health_app(
    checker: Checker,
    *,
    version: str,
    is_draining: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ASGIApp:
    """Return an ASGI app serving `/livez`, `/readyz` and `/healthz`; 404 for other paths.

    - `/livez`: the process answers; no dependency is called.
    - `/readyz`: 503 as soon as `is_draining()` is true, else the checker's verdict.
    - `/healthz`: 200 when every dependency is OK, 503 otherwise, with Clue's body.
    """
    started = clock()
    draining = is_draining or _never

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = local_path(scope)
        if path not in PROBE_PATHS:
            await respond_error(scope, send, 404, "not found")
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await method_not_allowed(scope, send, "GET, HEAD")
            return
        uptime = int(clock() - started)
        if path == "/livez":
            await respond_json(scope, send, 200, {"uptime": uptime, "version": version})
            return
        if path == "/readyz" and draining():
            # No dependency calls once shutdown began: the answer cannot change.
            last = checker.last_report
            body = HealthReport(False, last.status if last else {}).body(
                uptime=uptime, version=version
            )
            body["draining"] = True
            await respond_json(scope, send, 503, body)
            return
        report = await checker.check(link=_probe_link(scope))
        status = 200 if report.healthy else 503
        body = report.body(uptime=uptime, version=version)
        if path == "/healthz":
            await respond(scope, send, status, clue_json(body), b"application/json")
            return
        body["draining"] = False
        await respond_json(scope, send, status, body)

    return app


_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def clue_json(body: Mapping[str, Any]) -> bytes:
    """Encode `body` as Go's `json.Encoder` writes Clue's health body, byte for byte.

    Keys in the given order (struct order, with `status` already sorted), no spaces,
    `<`, `>`, `&`, U+2028 and U+2029 escaped as Go escapes them, and a trailing newline.
    """
    text = _JSON.encode(body).decode()
    for char, escaped in _GO_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    return text.encode() + b"\n"


def _probe_link(scope: Scope) -> SpanContext | None:
    # Probe paths are not traced by default: then the probe's own traceparent, if any.
    current = trace.get_current_span().get_span_context()
    if current.is_valid:
        return current
    value = header(scope, b"traceparent")
    if value is None:
        return None
    return parse_traceparent(value.decode("latin-1"))


class HTTPPinger:
    """Pings an HTTP dependency: `GET {scheme}://{addr}{path}` is healthy on 2xx and 3xx.

    `addr` is `host:port`, or a base URL such as `https://payments.internal`. Each ping
    opens a fresh connection, so a dependency that went away is noticed on the next
    ping. Proxy variables from the environment are ignored: dependencies are direct.
    Redirects are not followed: a 3xx answer already shows the dependency is up. The
    current trace context (the ping's span) is sent with `propagator` (W3C
    `traceparent`, `tracestate` and `baggage` by default).
    """

    def __init__(
        self,
        name: str,
        addr: str,
        path: str = "/livez",
        *,
        timeout: float = 1.0,
        scheme: str = "http",
        propagator: TextMapPropagator | None = None,
    ) -> None:
        base = addr.rstrip("/") if "://" in addr else f"{scheme}://{addr}"
        self.name = name
        self.url = base + (path if path.startswith("/") else "/" + path)
        self.timeout = timeout
        self._shown = _hide_password(self.url)
        self._propagator = propagator or W3CPropagator()
        self._client: httpx.AsyncClient | None = None

    async def ping(self) -> None:
        """GET the URL with the trace context; raise `PingError` unless 2xx or 3xx."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                limits=httpx.Limits(max_keepalive_connections=0),
                follow_redirects=False,
                trust_env=False,
            )
        headers: dict[str, str] = {}
        self._propagator.inject(headers)
        try:
            response = await self._client.get(self.url, headers=headers)
        except httpx.HTTPError as err:
            raise PingError(f"GET {self._shown}: {_describe(err)}") from None
        if not 200 <= response.status_code < 400:
            raise PingError(f"GET {self._shown}: status {response.status_code}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def __repr__(self) -> str:
        return f"HTTPPinger({self.name!r}, {self._shown!r})"


class RedisPinger:
    """Pings Redis with `PING` (needs the `redis` extra: `pip install 'bastion[redis]'`)."""

    def __init__(self, name: str, url: str, *, timeout: float = 1.0) -> None:
        self.name = name
        self.timeout = timeout
        self._url = url
        self._shown = _hide_password(url)
        self._secret = urlsplit(url).password
        self._module = _import_extra("redis.asyncio", "redis", "RedisPinger")
        self._client: Any = None

    async def ping(self) -> None:
        """Send PING; raise `PingError` on any failure."""
        if self._client is None:
            retry = importlib.import_module("redis.asyncio.retry")
            backoff = importlib.import_module("redis.backoff")
            # No retries: the checker's timeout and cache decide how often Redis is asked.
            self._client = self._module.Redis.from_url(
                self._url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=retry.Retry(backoff.NoBackoff(), 0),
            )
        try:
            await self._client.ping()
        except Exception as err:
            raise PingError(f"redis {self._shown}: {_describe(err, self._secret)}") from None

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def __repr__(self) -> str:
        return f"RedisPinger({self.name!r}, {self._shown!r})"


class SQLPinger:
    """Pings a SQL database with `SELECT 1`: SQLite, or PostgreSQL through `asyncpg`.

    `dsn` is `sqlite:///relative.db`, `sqlite:////absolute.db`, a plain file path, or
    `postgresql://user:pass@host/db` (needs `pip install 'bastion[postgres]'`). SQLite
    opens the file read-write without creating it, in a worker thread, so a missing
    database is reported rather than silently created.
    """

    def __init__(
        self, name: str, dsn: str, *, timeout: float = 1.0, query: str = "SELECT 1"
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.query = query
        self._dsn = dsn
        self._shown = _hide_password(dsn)
        self._secret = None
        self._asyncpg: Any = None
        scheme = dsn.partition("://")[0].lower() if "://" in dsn else ""
        if scheme in ("postgresql", "postgres"):
            self._secret = urlsplit(dsn).password
            self._asyncpg = _import_extra("asyncpg", "postgres", "SQLPinger for PostgreSQL")
            self._sqlite = ""
        elif scheme in ("", "sqlite"):
            self._sqlite = _sqlite_target(dsn)
        else:
            raise ConfigError(
                [
                    f"health check {name!r}: unsupported database {scheme!r}; "
                    "use sqlite:///path or postgresql://..."
                ]
            )

    async def ping(self) -> None:
        """Run the query; raise `PingError` on any failure."""
        try:
            if self._asyncpg is not None:
                conn = await self._asyncpg.connect(self._dsn, timeout=self.timeout)
                try:
                    await conn.fetchval(self.query)
                finally:
                    await conn.close()
            else:
                await asyncio.to_thread(self._ping_sqlite)
        except Exception as err:
            raise PingError(f"database {self._shown}: {_describe(err, self._secret)}") from None

    def _ping_sqlite(self) -> None:
        conn = sqlite3.connect(self._sqlite, uri=True, timeout=self.timeout)
        try:
            conn.execute(self.query).fetchall()
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"SQLPinger({self.name!r}, {self._shown!r})"


def _as_pinger(item: Pinger | CheckFunc) -> Pinger:
    if isinstance(item, Pinger):
        return item
    if callable(item):
        name = getattr(item, "__name__", "")
        if not name or name == "<lambda>":
            raise ConfigError(["a health check function needs a name: wrap it in Check(name, fn)"])
        return Check(name, item)
    raise ConfigError(
        [f"health check {item!r} is neither a pinger (name + async ping()) nor an async function"]
    )


def _never() -> bool:
    return False


def _describe(err: BaseException, secret: str | None = None) -> str:
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if secret:
        text = text.replace(secret, REDACTED)
    return text


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    return parts._replace(netloc=netloc).geturl()


def _sqlite_target(dsn: str) -> str:
    if dsn in ("sqlite://", ":memory:", "sqlite:///:memory:"):
        return ":memory:"
    if dsn.startswith("file:"):
        return dsn
    if dsn.startswith("sqlite:///"):
        path = dsn[len("sqlite:///") :]
    elif dsn.startswith("sqlite://"):
        raise ConfigError([f"SQLite DSN {dsn!r} must be sqlite:///relative or sqlite:////absolute"])
    else:
        path = dsn
    return f"file:{quote(path)}?mode=rw"


def _import_extra(module: str, extra: str, user: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{user} needs the {err.name or module!r} package: pip install 'bastion[{extra}]'"
        ) from err
