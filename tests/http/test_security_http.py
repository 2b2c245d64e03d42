"""Security in the design, end to end: requests through an `App` built from a design.

Every test builds its design, serves it with `bastion.testing.TestClient` (ASGI, client
address 127.0.0.1) and asserts what a client sees: the status, `WWW-Authenticate`, the
JSON error body and the rate limit headers; and what the method sees: `bastion.principal()`.
JWTs are signed with real keys generated here, JWKS come from a real HTTP server on
127.0.0.1, and the shared limiter runs against a real `redis-server`.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import pytest

import bastion
from bastion.dsl import (
    API,
    GET,
    HTTP,
    APIExpr,
    JWTSecurity,
    Method,
    Payload,
    Security,
    Service,
    String,
    Token,
)
from bastion.security.testing import TokenFactory
from bastion.testing import TestClient
from tests.support.credentials import basic, bearer
from tests.support.secured import ALICE_PASSWORD, Served, assert_who, serve, who, who_result


def ops_design() -> APIExpr:
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


class Ops:
    def __init__(self, tokens: TokenFactory) -> None:
        self.jwt_auth = tokens.verifier()

    async def ping(self, p: Any) -> dict[str, Any]:
        bastion.log.debug("pinging")
        return who()


def ops_app(tokens: TokenFactory, mount: Literal["admin", "main"] = "admin") -> Served:
    debug = bastion.Debug(mount=mount, scheme="jwt", scopes=("ops:debug",))
    return serve(ops_design(), {"ops": Ops(tokens)}, debug=debug)


async def test_debug_switch_on_the_public_port_needs_the_design_scheme_and_scope(
    es256: TokenFactory,
) -> None:
    served = ops_app(es256, mount="main")
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


async def test_metrics_on_the_public_port_need_the_design_scheme(es256: TokenFactory) -> None:
    served = ops_app(es256, mount="main")
    async with TestClient(served.app) as c:
        await c.get("/ping")  # one auth failure to count
        r = await c.get("/metrics")
        assert r.status_code == 401
        # RFC 7235 3.1: a 401 MUST carry a challenge, as every other 401 of the App does.
        assert r.headers.get("www-authenticate", "").startswith('Bearer realm="ops"')
        r = await c.get("/metrics", headers=bearer(es256.mint("ann", scopes=["api:read"])))
        assert r.status_code in (401, 403)
        r = await c.get("/metrics", headers=bearer(es256.mint("op", scopes=["ops:debug"])))
        assert r.status_code == 200
        assert "bastion_auth_failures" in r.text


def test_debug_on_the_public_port_without_a_scheme_is_refused_at_startup(
    es256: TokenFactory,
) -> None:
    with pytest.raises(bastion.ImplementationError, match=r"Debug\(scheme=\.\.\.\)"):
        serve(ops_design(), {"ops": Ops(es256)}, debug=bastion.Debug(mount="main"))
    with pytest.raises(bastion.ImplementationError,
                       match=r"Debug\(scheme='nope'\) is not a scheme"):
        serve(ops_design(), {"ops": Ops(es256)}, debug=bastion.Debug(scheme="nope"))


async def test_per_request_debug_logs_only_for_callers_passing_the_debug_scheme(
    es256: TokenFactory,
) -> None:
    served = ops_app(es256)
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
