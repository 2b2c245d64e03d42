"""The request log through a whole App: its scope, its start and end lines, their keys.

Every test serves a small design in process (`TestClient`) and reads the App's real log
lines (`LogCapture`) and, where spans matter, its real spans (in-memory exporter).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

import bastion
from bastion import log
from bastion.config import Config, load
from bastion.dsl import (
    API,
    GET,
    HTTP,
    APIExpr,
    APIKey,
    APIKeySecurity,
    ArrayOf,
    Attribute,
    Error,
    Method,
    NoSecurity,
    Param,
    Payload,
    Required,
    Response,
    Result,
    Security,
    Service,
    StatusConflict,
    StatusNotFound,
    String,
)
from bastion.http.requestlog import RequestLogOptions
from bastion.otel import ParentBasedSampler, Telemetry, configure
from bastion.security import APIKeyStore
from bastion.testing import LogCapture, TestClient

KEY = "k-0123456789-secret"
CARD = "4111111111111111"


def shop_design() -> APIExpr:
    with API("shop") as api:
        key = APIKeySecurity("api_key")
    with Service("items"):
        Error("not_found")
        Error("conflict")
        with HTTP():
            Response("not_found", StatusNotFound)
            Response("conflict", StatusConflict)
        with Method("list"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
                Attribute("card", String, meta={"sensitive": True})
                Attribute("kind", String, enum=["a", "b"])
            Result(ArrayOf(String))
            with HTTP():
                GET("/items")
                Param("key:api_key")
                Param("card")
                Param("kind")
        with Method("show"):
            NoSecurity()
            with Payload():
                Attribute("id", String)
                Required("id")
            Result(String)
            with HTTP():
                GET("/items/{id}")
    return api


class Items:
    def __init__(self) -> None:
        self.store = APIKeyStore()
        self.store.add("acme", KEY)

    async def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> bastion.Principal:
        return await self.store(key, scheme)

    async def list(self, p: Any) -> list[str]:
        log.info("listing", kind=p.kind)
        return ["a"]

    async def show(self, p: Any) -> str:
        log.info("showing", id=p.id)
        if p.id in ("not_found", "conflict"):
            raise bastion.make_error(p.id, f"item {p.id}")
        if p.id == "crash":
            raise RuntimeError("the database is gone")
        return p.id


@pytest.fixture
def spans() -> Iterator[tuple[Telemetry, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    telemetry = configure(
        "shop", "1", env={}, span_exporter=exporter, sampler=ParentBasedSampler(ALWAYS_ON)
    )
    yield telemetry, exporter
    telemetry.shutdown()


def shop(logs: LogCapture, telemetry: Telemetry | None = None,
         debug_authorizer: Any = None, config: Config | None = None,
         **observe: Any) -> bastion.App:
    options = bastion.Observe(route_stdlib_logs=False, **observe)
    return bastion.App(shop_design(), {"items": Items()}, logger=logs.logger,
                       telemetry=telemetry, observe=options, config=config,
                       debug=bastion.Debug(authorizer=debug_authorizer))


def by_msg(logs: LogCapture, msg: str) -> list[dict[str, Any]]:
    return [line for line in logs.lines if line["msg"] == msg]


# -- redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api%5Fkey", "api_key", "API%5FKEY", "api_key%20"])
async def test_an_encoded_credential_name_authenticates_yet_is_never_logged_or_traced(
    name: str, spans: tuple[Telemetry, InMemorySpanExporter]
) -> None:
    telemetry, exporter = spans
    logs = LogCapture()
    app = shop(logs, telemetry)
    async with TestClient(app) as client:
        r = await client.get(f"/items?{name}={KEY}&card={CARD}&kind=a")
    # The decoder reads `api%5Fkey` as `api_key` (it authenticates) and so does redaction.
    if name in ("api%5Fkey", "api_key"):
        assert r.status_code == 200, r.text
    start, end = by_msg(logs, "start")[0], by_msg(logs, "end")[0]
    expected = f"{name}=REDACTED&card=REDACTED&kind=a"
    assert start["url.query"] == expected and end["url.query"] == expected
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["url.query"] == expected
    assert KEY not in logs.text and CARD not in logs.text
    assert KEY not in str(span.to_json()) and CARD not in str(span.to_json())


async def test_log_redact_adds_names_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_REDACT", "kind, other")
    logs = LogCapture()
    async with TestClient(shop(logs)) as client:
        await client.get(f"/items?api_key={KEY}&kind=b")
    assert by_msg(logs, "start")[0]["url.query"] == "api_key=REDACTED&kind=REDACTED"


async def test_a_sensitive_field_is_never_echoed_in_an_error_body() -> None:
    with API("cards") as api:
        pass
    with Service("cards"), Method("pay"):
        with Payload():
            Attribute("pin", String, enum=["1234"], meta={"sensitive": True})
            Attribute("kind", String, enum=["debit", "credit"])
        with HTTP():
            GET("/pay")
            Param("pin")
            Param("kind")

    class Cards:
        async def pay(self, p: Any) -> None:
            return None

    app = bastion.App(api, {"cards": Cards()}, logger=LogCapture().logger)
    async with TestClient(app) as client:
        r = await client.get("/pay?pin=9876&kind=cash")
    assert r.status_code == 400
    messages = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert messages["pin"] == "Invalid enum value REDACTED"
    assert messages["kind"] == "Invalid enum value 'cash'"  # not sensitive: the client's help
    assert "9876" not in r.text


# -- the scope without lines ----------------------------------------------------------------


async def test_request_log_off_keeps_the_scope_request_id_and_debug_switch() -> None:
    logs = LogCapture(level="info")

    async def allow(scope: Any) -> bool:
        return True

    app = shop(logs, request_log=False, debug_authorizer=allow)
    async with TestClient(app) as client:
        r = await client.get("/items/plain")
        debugged = await client.get("/items/dbg", headers={"X-Debug-Logs": "on"})
    assert not by_msg(logs, "start") and not by_msg(logs, "end")
    plain, dbg = by_msg(logs, "showing")
    # The handler's line went to the App's Logger, with the request id it answered.
    assert plain["request_id"] == r.headers["x-request-id"]
    assert (plain["service"], plain["method"]) == ("items", "show")
    assert dbg["request_id"] == debugged.headers["x-request-id"]
    # The request's debug switch still works: its payload line is there, at debug level.
    payloads = by_msg(logs, "payload")
    assert [p["request_id"] for p in payloads] == [debugged.headers["x-request-id"]]


# -- end lines name the error ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "name"),
    [
        ("/items/not_found", 404, "not_found"),
        ("/items/conflict", 409, "conflict"),
        ("/items/crash", 500, "internal"),
        ("/nowhere", 404, "not_found"),
        ("/items?kind=a", 401, "unauthorized"),
        (f"/items?api_key={KEY}&kind=zzz", 400, "bad_request"),
    ],
)
async def test_every_error_response_has_its_name_and_id_on_the_end_line(
    path: str, status: int, name: str
) -> None:
    logs = LogCapture()
    async with TestClient(shop(logs)) as client:
        r = await client.get(path)
    assert r.status_code == status, r.text
    (end,) = by_msg(logs, "end")
    assert (end["error.type"], end["error.id"]) == (name, r.json()["id"])
    assert end["http.response.status_code"] == status


async def test_a_success_has_no_error_keys() -> None:
    logs = LogCapture()
    async with TestClient(shop(logs)) as client:
        await client.get("/items/fine")
    (end,) = by_msg(logs, "end")
    assert "error.type" not in end and "error.id" not in end


# -- the keys ---------------------------------------------------------------------------------


async def test_start_and_end_lines_use_opentelemetry_key_names() -> None:
    logs = LogCapture()
    async with TestClient(shop(logs)) as client:
        r = await client.get("/items/fine?x=1")
    start, showing, end = (by_msg(logs, m)[0] for m in ("start", "showing", "end"))
    rid = r.headers["x-request-id"]

    def keys(line: dict[str, Any]) -> list[str]:
        return [k for k in line if k not in ("trace_id", "span_id")]  # there when sampled

    assert keys(start) == [
        "time", "level", "msg", "request_id", "service.name", "http.request.method", "url.path",
        "url.query", "client.address",
    ]  # fmt: skip
    assert (start["service.name"], start["http.request.method"], start["url.path"]) == (
        "shop", "GET", "/items/fine"
    )
    assert (start["url.query"], start["client.address"], start["request_id"]) == (
        "x=1", "127.0.0.1", rid
    )
    # `service.name` is the API on every line; `service` and `method` the design's.
    assert (showing["service.name"], showing["service"], showing["method"]) == (
        "shop", "items", "show"
    )
    assert keys(end) == [
        "time", "level", "msg", "request_id", "service.name", "service", "method",
        "http.request.method", "url.path", "url.query", "http.route",
        "http.response.status_code", "http.time_ms", "http.response.body.size",
        "client.address",
    ]  # fmt: skip
    assert end["service.name"] == "shop" and end["service"] == "items"
    assert end["http.route"] == "/items/{id}"
    assert end["http.response.status_code"] == 200
    assert end["http.response.body.size"] == len(r.content)


# -- options ------------------------------------------------------------------------------------


async def test_excluded_paths_by_exact_path_glob_and_regex_have_no_lines() -> None:
    logs = LogCapture()
    options = RequestLogOptions(exclude=["/items/quiet", "/items/q-*", re.compile(r"^/items/\d+$")])
    async with TestClient(shop(logs, request_log=options)) as client:
        for path in ("/items/quiet", "/items/q-1", "/items/42", "/items/loud", "/livez"):
            await client.get(path)
    assert [s["url.path"] for s in by_msg(logs, "start")] == ["/items/loud", "/livez"]
    # Excluded requests keep their scope: the handler's line has its request id.
    assert all(line["request_id"] for line in by_msg(logs, "showing"))
    assert len(by_msg(logs, "showing")) == 4


async def test_buffered_start_and_end_lines_are_held_with_the_request() -> None:
    logs = LogCapture(level="info")
    logs.logger.buffer_requests = True
    async with TestClient(shop(logs, request_log=RequestLogOptions(buffered=True))) as client:
        await client.get("/items/fine")
        failed = await client.get("/items/crash")
    # The successful request held everything and dropped it; the failed one wrote it all.
    assert [line["msg"] for line in logs.lines] == ["start", "showing", "unexpected error", "end"]
    assert all(line["request_id"] == failed.headers["x-request-id"] for line in logs.lines)


async def test_start_and_end_lines_are_written_in_a_buffered_request_by_default() -> None:
    logs = LogCapture(level="info")
    logs.logger.buffer_requests = True
    async with TestClient(shop(logs)) as client:
        await client.get("/items/fine")
    assert [line["msg"] for line in logs.lines] == ["start", "end"]  # `showing` was held


async def test_the_start_line_names_the_client_a_trusted_proxy_forwarded_for() -> None:
    # The rule itself is tested in tests/test_clientaddr.py; here, the App applies it.
    logs = LogCapture()
    config = load(Config, env={"TRUSTED_PROXIES": "10.0.0.0/8"})
    app = shop(logs, config=config)
    async with TestClient(app, client=("10.0.0.7", 40000)) as client:
        await client.get("/items/fine", headers={"X-Forwarded-For": "203.0.113.9"})
    async with TestClient(app, client=("192.0.2.1", 40000)) as client:  # not our proxy
        await client.get("/items/fine", headers={"X-Forwarded-For": "203.0.113.9"})
    assert [x["client.address"] for x in by_msg(logs, "start")] == ["203.0.113.9", "192.0.2.1"]
    assert [x["client.address"] for x in by_msg(logs, "end")] == ["203.0.113.9", "192.0.2.1"]
