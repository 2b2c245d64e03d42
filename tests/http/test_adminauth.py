"""The debug endpoints and /metrics on the public port, behind a scheme of the design.

They are checked by the API's own enforcer: the same handler call (sync handlers off the
event loop), scopes, brute-force lockout, refusals and auth-failure log lines.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import httpx
import pytest

import bastion
from bastion.dsl import (
    API,
    GET,
    HTTP,
    APIExpr,
    BasicAuthSecurity,
    JWTSecurity,
    Method,
    NoSecurity,
    Password,
    Payload,
    Security,
    Service,
    String,
    Token,
    Username,
)
from bastion.security import Principal, RateLimits
from bastion.security.testing import TokenFactory
from bastion.testing import LogCapture, TestClient
from tests.support.credentials import basic, bearer
from tests.support.secured import ALICE_PASSWORD, SecuredApp, assert_who, serve, who, who_result

PASSWORD = "correct horse battery staple"


def design() -> Any:
    with API("ops") as api:
        basic_ = BasicAuthSecurity("basic")
        JWTSecurity("jwt", scopes={"ops:debug": "Debug the service"})
    with Service("ops"):
        with Method("ping"):
            Security(basic_)
            with Payload():
                Username("user", String)
                Password("password", String)
            with HTTP():
                GET("/ping")
        with Method("open"):
            NoSecurity()
            with HTTP():
                GET("/open")
    return api


class Ops:
    def __init__(self, tokens: TokenFactory | None = None) -> None:
        self.threads: list[bool] = []
        if tokens is not None:
            self.jwt_auth = tokens.verifier()

    def basic_auth(self, user: str, password: str, scheme: bastion.BasicScheme) -> Principal:
        # A plain def, so it must run in a worker thread, off the event loop.
        self.threads.append(threading.current_thread() is threading.main_thread())
        if password != PASSWORD:
            raise bastion.Unauthorized("invalid username or password")
        return Principal(user)

    async def ping(self, p: Any) -> None:
        return None

    async def open(self) -> None:
        bastion.log.debug("opened")


def app(impl: Ops, logs: LogCapture, *, debug_scheme: str,
        debug_scopes: tuple[str, ...] = (), **kw: Any) -> bastion.App:
    debug = bastion.Debug(mount="main", scheme=debug_scheme, scopes=debug_scopes)
    return bastion.App(design(), {"ops": impl}, logger=logs.logger, debug=debug, **kw)


def failures(logs: LogCapture) -> list[tuple[str, str, str]]:
    return [(x["scheme"], f'{x["service"]}.{x["method"]}', x["reason"])
            for x in logs.lines if x["msg"] == "auth failure"]


async def test_the_debug_gate_runs_a_sync_handler_off_the_event_loop_and_refuses_like_the_api(
) -> None:
    impl, logs = Ops(), LogCapture(level="info")
    served = app(impl, logs, debug_scheme="basic")
    async with TestClient(served) as c:
        r = await c.get("/metrics")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Basic realm="ops", charset="UTF-8"'
        assert r.json()["message"] == "missing credential for basic"
        r = await c.get("/metrics", headers=basic("op", "guess"))
        assert (r.status_code, r.json()["message"]) == (401, "invalid username or password")
        r = await c.get("/metrics", headers=basic("op", PASSWORD))
        assert r.status_code == 200 and "bastion_auth_failures" in r.text
    assert impl.threads == [False, False]
    assert failures(logs) == [("basic", "bastion.debug", "missing"),
                                ("basic", "bastion.debug", "invalid")]


async def test_guessing_the_debug_credential_is_locked_out_as_on_the_api() -> None:
    impl, logs = Ops(), LogCapture(level="info")
    limits = RateLimits(failures_per_client="2/day", failures_per_credential=None)
    served = app(impl, logs, debug_scheme="basic", limits=limits)
    async with TestClient(served) as c:
        for guess in ("a", "b"):
            assert (await c.get("/debug", headers=basic("op", guess))).status_code == 401
        r = await c.get("/debug", headers=basic("op", PASSWORD))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # The lockout is the App's: the API's own methods refuse this client too.
        assert (await c.get("/ping", headers=basic("op", PASSWORD))).status_code == 429
    assert len(impl.threads) == 2  # the password was never checked once locked out
    assert [reason for *_, reason in failures(logs)] == [
        "invalid", "invalid", "locked_out", "locked_out"]


async def test_metrics_behind_a_jwt_need_a_token_with_the_debug_scope() -> None:
    tokens = TokenFactory("ES256")
    impl, logs = Ops(tokens), LogCapture(level="info")
    served = app(impl, logs, debug_scheme="jwt", debug_scopes=("ops:debug",))
    async with TestClient(served) as c:
        r = await c.get("/metrics")
        assert r.status_code == 401
        # RFC 7235 3.1: a 401 MUST carry a challenge, as every other 401 of the App does.
        assert r.headers.get("www-authenticate", "").startswith('Bearer realm="ops"')
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {tokens.mint('ann')}"})
        assert r.status_code == 403
        assert r.headers["www-authenticate"] == (
            'Bearer realm="ops", error="insufficient_scope", scope="ops:debug"'
        )
        two = [("Authorization", f"Bearer {tokens.mint('op', scopes=['ops:debug'])}")] * 2
        assert (await c.get("/metrics", headers=two)).status_code == 401  # ambiguous: none
        ok = {"Authorization": f"Bearer {tokens.mint('op', scopes=['ops:debug'])}"}
        r = await c.get("/metrics", headers=ok)
        assert r.status_code == 200
        assert "bastion_auth_failures" in r.text  # the refusals above were counted


async def test_per_request_debug_logs_follow_the_gate_and_a_lockout_only_withholds_them(
) -> None:
    impl, logs = Ops(), LogCapture(level="info")
    limits = RateLimits(failures_per_client="1/day", failures_per_credential=None)
    served = app(impl, logs, debug_scheme="basic", limits=limits)
    on = {"X-Debug-Logs": "on"}
    async with TestClient(served) as c:
        assert (await c.get("/open", headers={**basic("op", PASSWORD), **on})).status_code == 204
        assert (await c.get("/metrics", headers=basic("op", "guess"))).status_code == 401
        # Locked out now: the public request still goes on, without its debug lines.
        assert (await c.get("/open", headers={**basic("op", PASSWORD), **on})).status_code == 204
    assert [x["msg"] for x in logs.lines if x["msg"] == "opened"] == ["opened"]


def test_a_debug_scheme_no_service_implements_is_an_implementation_error() -> None:
    with pytest.raises(bastion.ImplementationError) as info:
        app(Ops(), LogCapture(level="info"), debug_scheme="jwt")
    assert "jwt_auth(self, token: str, scheme: JWTScheme)" in str(info.value)


def jwt_ops_design() -> APIExpr:
    """An API whose default is a JWT with api:read; ops:debug is the debug scope."""
    with API("ops") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read", "ops:debug": "Debug the service"})
        Security(jwt, scopes=["api:read"])
    with Service("ops"):
        with Method("ping"):
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                GET("/ping")
    return api


class JWTOps:
    """The ops service behind the API's JWT default; its method logs at debug."""

    def __init__(self, tokens: TokenFactory) -> None:
        self.jwt_auth = tokens.verifier()

    async def ping(self, p: Any) -> dict[str, Any]:
        bastion.log.debug("pinging")
        return who()


def jwt_ops_app(tokens: TokenFactory, mount: Literal["admin", "main"] = "admin") -> SecuredApp:
    debug = bastion.Debug(mount=mount, scheme="jwt", scopes=("ops:debug",))
    return serve(jwt_ops_design(), {"ops": JWTOps(tokens)}, debug=debug)


async def test_debug_switch_on_the_public_port_needs_the_design_scheme_and_scope(
    es256: TokenFactory,
) -> None:
    served = jwt_ops_app(es256, mount="main")
    reader = bearer(es256.mint("ann", scopes=["api:read"]))
    operator = bearer(es256.mint("op", scopes=["api:read", "ops:debug"]))
    async with TestClient(served.app) as c:
        for headers in ({}, reader, bearer("forged"), basic("alice", ALICE_PASSWORD)):
            r = await c.get("/debug", params={"debug-logs": "on"}, headers=headers)
            assert r.status_code in (401, 403), headers
            assert served.app.logger.debug_enabled is False
        r = await c.get("/debug", params={"debug-logs": "on"}, headers=operator)
        assert r.status_code == 200
        assert r.json() == {"debug-logs": "on"}
        assert served.app.logger.debug_enabled is True
        assert any(x["msg"] == "debug logs switched" for x in served.logs.lines)


def test_debug_on_the_public_port_without_a_scheme_is_refused_at_startup(
    es256: TokenFactory,
) -> None:
    with pytest.raises(bastion.ImplementationError, match=r"Debug\(scheme=\.\.\.\)"):
        serve(jwt_ops_design(), {"ops": JWTOps(es256)}, debug=bastion.Debug(mount="main"))
    with pytest.raises(bastion.ImplementationError,
                       match=r"Debug\(scheme='nope'\) is not a scheme"):
        serve(jwt_ops_design(), {"ops": JWTOps(es256)}, debug=bastion.Debug(scheme="nope"))


async def test_per_request_debug_logs_only_for_callers_passing_the_debug_scheme(
    es256: TokenFactory,
) -> None:
    served = jwt_ops_app(es256)
    on = {"X-Debug-Logs": "on"}
    reader = es256.mint("ann", scopes=["api:read"])
    operator = es256.mint("op", scopes=["api:read", "ops:debug"])
    async with TestClient(served.app) as c:
        plain = await c.get("/ping", headers={**on, **bearer(reader)})
        assert_who(plain, "ann", ["jwt"])
        debugged = await c.get("/ping", headers={**on, **bearer(operator)})
        assert_who(debugged, "op", ["jwt"])

    def debug_lines(r: httpx.Response) -> list[str]:
        rid = r.headers["x-request-id"]
        return [x["msg"] for x in served.logs.lines
                if x.get("request_id") == rid and x["level"] == "debug"]

    assert debug_lines(plain) == []
    assert "pinging" in debug_lines(debugged)
    assert served.app.logger.debug_enabled is False
