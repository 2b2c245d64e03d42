"""The health checker and the /livez, /readyz, /healthz app."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bastion import log
from bastion.errors import ConfigError
from bastion.health import (
    PROBE_PATHS,
    Check,
    Checker,
    HTTPPinger,
    PingError,
    RedisPinger,
    SQLPinger,
    health_app,
)
from bastion.otel import Telemetry
from bastion.testing import LogCapture
from tests.support.asgi import asgi_client
from tests.support.clock import FakeClock
from tests.support.servers import HTTPServerThread, RedisServer, free_port
from tests.support.telemetry import traced


class Counter:
    """A check that counts its calls and fails while `healthy` is False."""

    def __init__(self, name: str, *, delay: float = 0.0) -> None:
        self.name = name
        self.calls = 0
        self.healthy = True
        self.delay = delay

    async def ping(self) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self.healthy:
            raise RuntimeError(f"{self.name} is down")


# -- Checker ------------------------------------------------------------------------------


async def test_checks_run_concurrently() -> None:
    # Each check waits at a barrier the others must reach: run one after another, the
    # first would wait forever and time out.
    barrier = asyncio.Barrier(3)
    delay = 0.5

    def make(name: str) -> Check:
        async def fn() -> None:
            await barrier.wait()
            await asyncio.sleep(delay)

        return Check(name, fn)

    checker = Checker(make("a"), make("b"), make("c"), timeout=5.0)
    started = time.monotonic()
    report = await checker.check()
    elapsed = time.monotonic() - started
    assert report.healthy
    assert report.status == {"a": "OK", "b": "OK", "c": "OK"}
    assert elapsed < 3 * delay  # close to the slowest check, not the sum


async def test_each_check_has_its_own_timeout() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    quick = Counter("quick")
    own = Check("own_timeout", hangs, timeout=0.1)
    checker = Checker(quick, Check("default_timeout", hangs), own, timeout=0.5)
    started = time.monotonic()
    report = await checker.check()
    elapsed = time.monotonic() - started
    assert report.status == {"quick": "OK", "default_timeout": "NOT OK", "own_timeout": "NOT OK"}
    assert not report.healthy
    assert report.errors["own_timeout"] == "no answer within 0.1s"
    assert report.errors["default_timeout"] == "no answer within 0.5s"
    assert elapsed < 5.0  # the hanging checks were cut off


async def test_results_are_cached_for_the_ttl() -> None:
    clock = FakeClock()
    db = Counter("database")
    checker = Checker(db, cache_ttl=1.0, clock=clock)
    await checker.check()
    clock.now += 0.5
    await checker.check()
    assert db.calls == 1
    clock.now += 0.6
    await checker.check()
    assert db.calls == 2


async def test_a_storm_of_probes_costs_one_round_of_pings() -> None:
    db = Counter("database", delay=0.1)
    checker = Checker(db, cache_ttl=0.0)
    reports = await asyncio.gather(*(checker.check() for _ in range(50)))
    assert db.calls == 1
    assert all(r is reports[0] for r in reports)


async def test_plain_async_functions_are_checks_named_by_function() -> None:
    async def payments() -> None:
        raise ConnectionError("refused")

    report = await Checker(payments).check()
    assert report.status == {"payments": "NOT OK"}
    assert report.errors["payments"] == "ConnectionError: refused"


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigError, match="registered twice"):
        Checker(Counter("db"), Counter("db"))
    with pytest.raises(ConfigError, match="timeout"):
        Checker(timeout=0)
    with pytest.raises(ConfigError, match="Check"):
        Checker(lambda: asyncio.sleep(0))


@pytest.mark.parametrize("explicit_logger", [False, True], ids=["context-logger", "own-logger"])
async def test_a_failure_is_logged_once_per_state_change(explicit_logger: bool) -> None:
    logs = LogCapture(level="info")
    cache = Counter("cache")
    checker = Checker(cache, cache_ttl=0.0, logger=logs.logger if explicit_logger else None)
    with log.use(logs.logger if not explicit_logger else LogCapture(level="info").logger):
        await checker.check()
        cache.healthy = False
        for _ in range(3):
            await checker.check()
        cache.healthy = True
        for _ in range(3):
            await checker.check()
    lines = logs.lines
    assert [(line["level"], line["msg"], line["check"]) for line in lines] == [
        ("error", "health check failed", "cache"),
        ("info", "health check recovered", "cache"),
    ]
    assert lines[0]["err"] == "PingError: RuntimeError: cache is down"


# -- the ASGI app -------------------------------------------------------------------------


async def test_healthz_answers_503_with_clues_body_when_a_dependency_fails() -> None:
    clock = FakeClock()
    database, cache = Counter("database"), Counter("cache")
    cache.healthy = False
    app = health_app(Checker(database, cache), version="1.2.3", clock=clock)
    clock.now += 42.7
    async with asgi_client(app) as c:
        response = await c.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    # Clue's body byte for byte: struct order, dependencies sorted, Go's newline.
    assert response.content == (
        b'{"uptime":42,"version":"1.2.3","status":{"cache":"NOT OK","database":"OK"}}\n'
    )


async def test_healthz_body_without_dependencies_is_clues() -> None:
    app = health_app(Checker(), version="1.0.0")
    async with asgi_client(app) as c:
        response = await c.get("/healthz")
    assert response.status_code == 200
    assert response.content == b'{"uptime":0,"version":"1.0.0"}\n'


async def test_healthz_escapes_html_characters_as_go_does() -> None:
    app = health_app(Checker(Check("a<b>&c", _ok)), version="1")
    async with asgi_client(app) as c:
        response = await c.get("/healthz")
    assert response.content == (
        b'{"uptime":0,"version":"1","status":{"a\\u003cb\\u003e\\u0026c":"OK"}}\n'
    )
    assert response.json()["status"] == {"a<b>&c": "OK"}


async def _ok() -> None:
    return None


async def test_healthz_answers_200_when_every_dependency_is_ok() -> None:
    app = health_app(Checker(Counter("database")), version="1.0.0")
    async with asgi_client(app) as c:
        response = await c.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == {"database": "OK"}


async def test_livez_calls_no_dependency() -> None:
    database = Counter("database")
    database.healthy = False
    app = health_app(Checker(database), version="1.0.0")
    async with asgi_client(app) as c:
        response = await c.get("/livez")
    assert response.status_code == 200
    assert response.json()["version"] == "1.0.0"
    assert database.calls == 0


async def test_readyz_turns_503_the_moment_draining_starts() -> None:
    draining = False
    database = Counter("database")
    app = health_app(Checker(database, cache_ttl=0), version="1", is_draining=lambda: draining)
    async with asgi_client(app) as c:
        ready = await c.get("/readyz")
        draining = True
        calls = database.calls
        drained = await c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["draining"] is False
    assert drained.status_code == 503
    assert drained.json()["draining"] is True
    assert database.calls == calls  # no dependency call once draining


async def test_readyz_is_503_when_a_dependency_fails() -> None:
    database = Counter("database")
    database.healthy = False
    app = health_app(Checker(database), version="1")
    async with asgi_client(app) as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == {"database": "NOT OK"}


async def test_other_paths_are_404_and_other_methods_405() -> None:
    app = health_app(Checker(), version="1")
    async with asgi_client(app) as c:
        missing = await c.get("/orders")
        post = await c.post("/healthz")
        head = await c.head("/healthz")
    assert missing.status_code == 404
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200
    assert head.content == b""
    assert {"/livez", "/readyz", "/healthz"} == PROBE_PATHS


# -- real dependencies ----------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    #: The headers of every request the upstream received, across instances.
    seen: list[dict[str, str]] = []  # noqa: RUF012 - shared on purpose, reset per test

    def do_GET(self) -> None:
        _Handler.seen.append({k.lower(): v for k, v in self.headers.items()})
        status = {"/livez": 200, "/moved": 302, "/not-modified": 304, "/missing": 404}.get(
            self.path, 500
        )
        self.send_response(status)
        if status == 302:
            self.send_header("location", "/elsewhere")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[HTTPServerThread]:
    """A real HTTP dependency on 127.0.0.1, stopped and started again on the same port."""
    _Handler.seen.clear()
    with HTTPServerThread(_Handler) as server:
        yield server


@pytest.mark.integration
async def test_http_pinger_follows_a_real_dependency_going_down_and_up(
    upstream: HTTPServerThread,
) -> None:
    addr = f"127.0.0.1:{upstream.port}"
    async with Checker(HTTPPinger("upstream", addr, timeout=2.0), cache_ttl=0) as checker:
        assert (await checker.check()).status == {"upstream": "OK"}
        upstream.stop()
        down = await checker.check()
        assert down.status == {"upstream": "NOT OK"}
        assert down.errors["upstream"].startswith(f"GET http://{addr}/livez: ConnectError")
        upstream.start()
        assert (await checker.check()).status == {"upstream": "OK"}


@pytest.mark.integration
async def test_http_pinger_is_unhealthy_on_a_non_2xx_status(upstream: HTTPServerThread) -> None:
    pinger = HTTPPinger("upstream", f"http://127.0.0.1:{upstream.port}", "/broken")
    try:
        with pytest.raises(PingError, match="status 500"):
            await pinger.ping()
    finally:
        await pinger.aclose()


@pytest.mark.integration
@pytest.mark.parametrize(("path", "healthy"), [("/moved", True), ("/not-modified", True),
                                               ("/missing", False)])
async def test_http_pinger_treats_2xx_and_3xx_as_healthy(
    upstream: HTTPServerThread, path: str, healthy: bool
) -> None:
    pinger = HTTPPinger("upstream", f"127.0.0.1:{upstream.port}", path)
    try:
        if healthy:
            await pinger.ping()
        else:
            with pytest.raises(PingError, match="status 404"):
                await pinger.ping()
    finally:
        await pinger.aclose()


@pytest.mark.integration
async def test_http_pinger_propagates_the_ping_span(
    upstream: HTTPServerThread, telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    pinger = HTTPPinger("upstream", f"127.0.0.1:{upstream.port}")
    async with Checker(pinger, tracer=telemetry.tracer) as checker:
        assert (await checker.check()).healthy
    (ping,) = exporter.get_finished_spans()
    assert ping.context is not None
    (headers,) = _Handler.seen
    ids = f"{ping.context.trace_id:032x}-{ping.context.span_id:016x}"
    assert ping.context.trace_flags.sampled
    assert headers["traceparent"] == f"00-{ids}-{int(ping.context.trace_flags):02x}"


@pytest.mark.integration
async def test_http_pinger_outside_a_span_sends_no_traceparent(upstream: HTTPServerThread) -> None:
    pinger = HTTPPinger("upstream", f"127.0.0.1:{upstream.port}")
    try:
        assert not trace.get_current_span().get_span_context().is_valid
        await pinger.ping()
    finally:
        await pinger.aclose()
    (headers,) = _Handler.seen
    assert "traceparent" not in headers


@pytest.mark.integration
async def test_redis_pinger_against_a_real_redis_server(redis: RedisServer) -> None:
    async with Checker(RedisPinger("cache", redis.url), cache_ttl=0) as checker:
        assert (await checker.check()).status == {"cache": "OK"}
        redis.stop()
        report = await checker.check()
    assert report.status == {"cache": "NOT OK"}
    assert report.errors["cache"].startswith("redis redis://127.0.0.1:")


async def test_redis_pinger_never_shows_the_password() -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    pinger = RedisPinger("cache", url, timeout=0.5)
    try:
        with pytest.raises(PingError) as caught:
            await pinger.ping()
    finally:
        await pinger.aclose()
    assert "s3cret-pw" not in str(caught.value)
    assert "REDACTED" in str(caught.value)
    assert "s3cret-pw" not in repr(pinger)


async def test_sqlite_pinger_checks_the_file_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    missing = tmp_path / "missing.db"
    checker = Checker(
        SQLPinger("database", f"sqlite:///{path}"),
        SQLPinger("plain_path", str(path)),
        SQLPinger("missing", str(missing)),
        cache_ttl=0,
    )
    report = await checker.check()
    assert report.status == {"database": "OK", "plain_path": "OK", "missing": "NOT OK"}
    assert not missing.exists()


def test_sql_pinger_refuses_unknown_databases_and_names_the_postgres_extra() -> None:
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        SQLPinger("db", "mysql://localhost/app")
    if importlib.util.find_spec("asyncpg") is None:
        with pytest.raises(ImportError, match=r"pip install 'bastion\[postgres\]'"):
            SQLPinger("db", "postgresql://user:pw@127.0.0.1/app")


async def test_a_storm_of_http_probes_hits_the_dependency_once() -> None:
    hits: list[float] = []

    async def counted() -> None:
        hits.append(time.monotonic())
        await asyncio.sleep(0.05)

    app = health_app(Checker(Check("counted", counted), cache_ttl=1.0), version="1")
    async with asgi_client(app) as c:
        responses = await asyncio.gather(*(c.get("/healthz") for _ in range(30)))
    assert {r.status_code for r in responses} == {200}
    assert len(hits) == 1


# -- ping spans ---------------------------------------------------------------------------


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    with traced("orders", exporter=exporter, install_globals=False) as (t, _):
        yield t


async def test_each_ping_is_a_client_span_with_its_outcome(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    database, cache = Counter("database"), Counter("cache")
    cache.healthy = False
    checker = Checker(database, cache, tracer=telemetry.tracer)
    await checker.check()

    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"health.ping.database", "health.ping.cache"}
    ok, failed = spans["health.ping.database"], spans["health.ping.cache"]
    assert ok.kind is SpanKind.CLIENT
    assert ok.status.status_code is StatusCode.OK
    assert ok.parent is None
    assert dict(ok.attributes or {}) == {"name": "health.ping.database"}
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ping failed"
    (event,) = failed.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "RuntimeError: cache is down"


async def test_ping_spans_link_to_the_probe_that_started_the_round(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    checker = Checker(Counter("database"), tracer=telemetry.tracer, cache_ttl=0)
    with telemetry.tracer.start_as_current_span("GET /healthz") as probe:
        await checker.check()
    (ping,) = [s for s in exporter.get_finished_spans() if s.name == "health.ping.database"]
    (link,) = ping.links
    assert link.context.trace_id == probe.get_span_context().trace_id
    assert link.context.span_id == probe.get_span_context().span_id
    # A round of its own: a new trace, not a child of the probe.
    assert ping.context is not None
    assert ping.context.trace_id != probe.get_span_context().trace_id


async def test_a_probe_traceparent_links_the_pings_when_probes_are_not_traced(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    app = health_app(Checker(Counter("database"), tracer=telemetry.tracer), version="1")
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with asgi_client(app) as c:
        response = await c.get("/healthz", headers={"traceparent": parent})
    assert response.status_code == 200
    (ping,) = exporter.get_finished_spans()
    (link,) = ping.links
    assert link.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert link.context.span_id == 0xB7AD6B7169203331
