"""The debug-logs switch, per-request debug logs and the payload-logging middleware."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from bastion import log
from bastion._asgi import header, respond_json
from bastion.debug import debug_app, debug_header_enabled, is_debug_path, payload_logger
from bastion.errors import Unauthorized
from bastion.types import ASGIApp, Receive, Scope, Send
from tests.support.asgi import asgi_client
from tests.support.logs import json_lines, memory_logger

FIXED_TIME = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TIME_TEXT = "2023-11-14T22:13:20.000Z"


def make_logger() -> tuple[log.Logger, io.StringIO]:
    return memory_logger(format="json", clock=lambda: FIXED_TIME)


# -- /debug?debug-logs=on|off ---------------------------------------------------------------


async def test_the_switch_changes_what_is_logged() -> None:
    logger, stream = make_logger()
    app = debug_app(logger)
    async with asgi_client(app) as c:
        with log.use(logger):
            log.debug("before")
            on = await c.get("/debug", params={"debug-logs": "on"})
            log.debug("while on")
            off = await c.get("/debug", params={"debug-logs": "off"})
            log.debug("after")
    assert on.status_code == 200
    assert on.headers["content-type"] == "application/json"
    assert on.json() == {"debug-logs": "on"}
    assert off.json() == {"debug-logs": "off"}
    assert [(line["level"], line["msg"]) for line in json_lines(stream)] == [
        ("info", "debug logs switched"),
        ("debug", "while on"),
        ("info", "debug logs switched"),
    ]


async def test_the_switch_reports_the_state_without_a_parameter_and_rejects_bad_values() -> None:
    logger, _ = make_logger()
    logger.debug_enabled = True
    async with asgi_client(debug_app(logger)) as c:
        state = await c.get("/debug")
        bad = await c.get("/debug", params={"debug-logs": "maybe"})
        unknown = await c.get("/debugger")
    assert state.json() == {"debug-logs": "on"}
    assert bad.status_code == 400
    assert logger.debug_enabled is True
    assert unknown.status_code == 404


def test_is_debug_path_names_what_debug_app_serves() -> None:
    served = ["/debug", "/debug/", "/debug/pprof", "/debug/pprof/", "/debug/pprof/heap"]
    assert all(is_debug_path(p) for p in served)
    assert not any(is_debug_path(p) for p in ["/debugger", "/debug/pprofx", "/metrics", "/"])


async def test_the_switch_is_per_logger_so_two_apps_do_not_share_it() -> None:
    first, _ = make_logger()
    second, _ = make_logger()
    async with asgi_client(debug_app(first)) as c:
        await c.get("/debug", params={"debug-logs": "on"})
    assert first.debug_enabled is True
    assert second.debug_enabled is False


def bearer_authorize(token: str) -> Callable[[Scope], Awaitable[bool]]:
    async def authorize(scope: Scope) -> bool:
        value = header(scope, b"authorization")
        if value is None:
            raise Unauthorized("missing bearer token")
        return value == f"Bearer {token}".encode()

    return authorize


async def test_authorize_guards_every_debug_path() -> None:
    logger, _ = make_logger()
    app = debug_app(logger, authorize=bearer_authorize("admin-token"))
    async with asgi_client(app) as c:
        anonymous = await c.get("/debug", params={"debug-logs": "on"})
        wrong = await c.get(
            "/debug/pprof/cmdline", headers={"authorization": "Bearer someone-else"}
        )
        admin = await c.get(
            "/debug", params={"debug-logs": "on"}, headers={"authorization": "Bearer admin-token"}
        )
    assert anonymous.status_code == 401
    assert wrong.status_code == 403
    assert admin.json() == {"debug-logs": "on"}
    assert logger.debug_enabled is True


# -- X-Debug-Logs: on -------------------------------------------------------------------------


def request_log_app(authorize: Callable[[Scope], Awaitable[bool]] | None) -> ASGIApp:
    """What the request-log middleware does with the header, around a handler that logs."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        debug = await debug_header_enabled(scope, authorize)
        with log.RequestContext(fields={"request_id": "r1"}, debug=debug):
            log.debug("handler detail")
            log.info("handled")
        await respond_json(scope, send, 200, {})

    return app


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-debug-logs": "on", "authorization": "Bearer admin-token"}, ["handler detail"]),
        ({"x-debug-logs": "on", "authorization": "Bearer intruder"}, []),
        ({"x-debug-logs": "on"}, []),
        ({"authorization": "Bearer admin-token"}, []),
        ({"x-debug-logs": "off", "authorization": "Bearer admin-token"}, []),
    ],
    ids=["authorised", "wrong-token", "no-token", "no-header", "header-off"],
)
async def test_per_request_debug_works_only_for_authorised_callers(
    headers: dict[str, str], expected: list[str]
) -> None:
    logger, stream = make_logger()
    app = request_log_app(bearer_authorize("admin-token"))
    with log.use(logger):
        async with asgi_client(app) as c:
            response = await c.get("/orders", headers=headers)
            await c.get("/orders")  # a later request without the header logs no debug
    assert response.status_code == 200
    logged = json_lines(stream)
    assert [line["msg"] for line in logged if line["level"] == "debug"] == expected
    assert [line["msg"] for line in logged if line["level"] == "info"] == ["handled", "handled"]


async def test_per_request_debug_is_off_for_everyone_without_an_authorize_function() -> None:
    scope: Scope = {"type": "http", "headers": [(b"x-debug-logs", b"on")]}
    assert await debug_header_enabled(scope, None) is False


# -- payload logging ----------------------------------------------------------------------------


class Order(msgspec.Struct):
    id: str
    amount: float


class CreatePayload(msgspec.Struct):
    token: str
    api_key: str
    order: Order


@dataclass
class MethodInfo:
    """A stand-in for the framework's MethodInfo: redacts the design's credential attributes."""

    service: str
    name: str
    credentials: frozenset[str]
    redactions: list[Any] = field(default_factory=list)

    def redact(self, payload: Any) -> Any:
        self.redactions.append(payload)
        data = msgspec.to_builtins(payload)
        if isinstance(data, dict):
            for key in self.credentials & data.keys():
                data[key] = "[REDACTED]"
        return data

    def dump_result(self, result: Any) -> Any:
        return msgspec.to_builtins(result)


def create_info() -> MethodInfo:
    return MethodInfo("orders", "create", frozenset({"token", "api_key"}))


PAYLOAD = CreatePayload(
    token="eyJhbGciOiJIUzI1NiJ9.secret-jwt",
    api_key="k-123-secret",
    order=Order(id="o-1", amount=12.5),
)


async def create(payload: CreatePayload) -> Order:
    return payload.order


async def test_payload_lines_redact_credentials() -> None:
    logger, stream = make_logger()
    logger.debug_enabled = True
    endpoint = payload_logger()(create, create_info())
    with log.use(logger):
        result = await endpoint(PAYLOAD)
    assert result == PAYLOAD.order
    logger.flush()
    assert stream.getvalue().splitlines() == [
        f'{{"time":"{TIME_TEXT}","level":"debug","msg":"payload","service":"orders",'
        '"method":"create","payload":{"token":"[REDACTED]","api_key":"[REDACTED]",'
        '"order":{"id":"o-1","amount":12.5}}}',
        f'{{"time":"{TIME_TEXT}","level":"debug","msg":"result","service":"orders",'
        '"method":"create","result":{"id":"o-1","amount":12.5}}',
    ]
    assert "secret" not in stream.getvalue()


async def test_bind_puts_service_and_method_on_the_lines_after_the_call_too() -> None:
    # The App's one layer per call: log_fields and payload logging together.
    logger, stream = make_logger()

    async def create_and_log(payload: CreatePayload) -> Order:
        log.info("inside")
        return payload.order

    for debug in (False, True):
        logger.debug_enabled = debug
        endpoint = payload_logger(bind=True)(create_and_log, create_info())
        with log.use(logger), log.fields(request_id="r-1"):
            await endpoint(PAYLOAD)
            log.info("after")
        logger.flush()
        lines = json_lines(stream)
        stream.seek(0)
        stream.truncate()
        assert [line["msg"] for line in lines] == (
            ["payload", "inside", "result", "after"] if debug else ["inside", "after"])
        for line in lines:
            assert (line["request_id"], line["service"], line["method"]) == (
                "r-1", "orders", "create")


async def test_payloads_longer_than_max_size_are_cut_with_a_marker() -> None:
    logger, stream = make_logger()
    logger.debug_enabled = True
    endpoint = payload_logger(max_size=40)(create, create_info())
    with log.use(logger):
        await endpoint(PAYLOAD)
    payload_line = json_lines(stream)[0]
    full = '{"token":"[REDACTED]","api_key":"[REDACTED]","order":{"id":"o-1","amount":12.5}}'
    assert payload_line["payload"] == full[:40] + f"…[truncated {len(full) - 40} bytes]"


async def test_no_result_line_when_the_call_fails() -> None:
    logger, stream = make_logger()
    logger.debug_enabled = True

    async def fails(payload: CreatePayload) -> Order:
        raise RuntimeError("boom")

    endpoint = payload_logger()(fails, create_info())
    with log.use(logger), pytest.raises(RuntimeError):
        await endpoint(PAYLOAD)
    assert [line["msg"] for line in json_lines(stream)] == ["payload"]


async def test_nothing_is_serialised_when_debug_is_off() -> None:
    logger, stream = make_logger()
    info = create_info()
    endpoint = payload_logger()(create, info)
    with log.use(logger):
        assert await endpoint(PAYLOAD) == PAYLOAD.order
    assert stream.getvalue() == ""
    assert info.redactions == []


async def test_payload_logging_follows_per_request_debug() -> None:
    logger, stream = make_logger()
    endpoint = payload_logger()(create, create_info())
    with log.use(logger):
        with log.RequestContext(debug=True):
            await endpoint(PAYLOAD)
        with log.RequestContext():
            await endpoint(PAYLOAD)
    assert [line["msg"] for line in json_lines(stream)] == ["payload", "result"]


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1 byte"):
        payload_logger(max_size=0)


async def test_payload_and_result_values_are_logged_as_json_not_as_text() -> None:
    logger, stream = make_logger()
    logger.debug_enabled = True

    async def nothing(payload: Any) -> Any:
        return 3

    @dataclass
    class NoPayload:
        service: str = "orders"
        name: str = "ping"

        def redact(self, payload: Any) -> Any:
            return payload

        def dump_result(self, result: Any) -> Any:
            return result

    endpoint = payload_logger()(nothing, NoPayload())
    with log.use(logger):
        await endpoint(None)
    payload_line, result_line = json_lines(stream)
    assert payload_line["payload"] is None  # JSON null, not the string "null"
    assert result_line["result"] == 3


async def test_the_apps_redactor_hides_secret_looking_names_in_payloads() -> None:
    from bastion.redact import Redactor

    logger, stream = make_logger()
    logger.debug_enabled = True
    info = create_info()
    info.credentials = frozenset()  # nothing declared: the names alone decide
    endpoint = payload_logger(redactor=Redactor(["amount"]))(create, info)
    with log.use(logger):
        await endpoint(PAYLOAD)
    payload_line, result_line = json_lines(stream)
    assert payload_line["payload"]["token"] == "REDACTED"  # default names
    assert payload_line["payload"]["api_key"] == "REDACTED"
    assert payload_line["payload"]["order"] == {"id": "o-1", "amount": "REDACTED"}  # the App's
    assert result_line["result"] == {"id": "o-1", "amount": "REDACTED"}
    assert "secret" not in stream.getvalue()
