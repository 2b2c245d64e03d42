"""The debug endpoints and /metrics on the public port, behind a scheme of the design.

They are checked by the API's own enforcer: the same handler call (sync handlers off the
event loop), scopes, brute-force lockout, refusals and auth-failure log lines.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest

import bastion
from bastion.dsl import (
    API,
    GET,
    HTTP,
    BasicAuthSecurity,
    JWTSecurity,
    Method,
    NoSecurity,
    Password,
    Payload,
    Security,
    Service,
    String,
    Username,
)
from bastion.security import Principal, RateLimits
from bastion.security.testing import TokenFactory
from bastion.testing import LogCapture, TestClient

PASSWORD = "correct horse battery staple"


def design() -> Any:
    with API("ops") as api:
        basic = BasicAuthSecurity("basic")
        JWTSecurity("jwt", scopes={"ops:debug": "Debug the service"})
    with Service("ops"):
        with Method("ping"):
            Security(basic)
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


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


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


async def test_a_token_without_the_debug_scope_is_a_403_with_the_scope_challenge() -> None:
    tokens = TokenFactory("ES256")
    impl, logs = Ops(tokens), LogCapture(level="info")
    served = app(impl, logs, debug_scheme="jwt", debug_scopes=("ops:debug",))
    async with TestClient(served) as c:
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {tokens.mint('ann')}"})
        assert r.status_code == 403
        assert r.headers["www-authenticate"] == (
            'Bearer realm="ops", error="insufficient_scope", scope="ops:debug"'
        )
        two = [("Authorization", f"Bearer {tokens.mint('op', scopes=['ops:debug'])}")] * 2
        assert (await c.get("/metrics", headers=two)).status_code == 401  # ambiguous: none
        ok = {"Authorization": f"Bearer {tokens.mint('op', scopes=['ops:debug'])}"}
        assert (await c.get("/metrics", headers=ok)).status_code == 200


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
