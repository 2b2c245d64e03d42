"""What a service's auth handlers may answer, and what the client and the log see.

`Unauthorized` and `Forbidden` are a 401 and a 403 with the handler's message; any other
exception, or no principal at all, is a 500 with an id and never a pass; the method never
runs on a refusal. A missing handler fails at startup; auth-failure hooks see every
refusal and cannot change one.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import bastion
from bastion.dsl import (
    API,
    GET,
    HTTP,
    APIExpr,
    APIKey,
    APIKeySecurity,
    JWTSecurity,
    Method,
    Payload,
    Security,
    Service,
    String,
    Token,
)
from bastion.security import AuthFailure, Principal
from bastion.testing import TestClient
from tests.support.credentials import basic, bearer, key_header
from tests.support.errors import assert_error
from tests.support.secured import (
    ALICE_PASSWORD,
    BOB_PASSWORD,
    SecuredApp,
    assert_who,
    serve,
    who,
    who_result,
)


def custom_design() -> APIExpr:
    """Schemes whose handlers are the service's own code, to test what they may do."""
    with API("custom") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
        key = APIKeySecurity("api_key")
    with Service("custom"):
        with Method("guarded"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/guarded")
        with Method("scoped"):
            Security(jwt, scopes=["api:read"])
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                GET("/scoped")
    return api


class Custom:
    """Auth handlers that answer according to the credential they get."""

    def __init__(self) -> None:
        self.calls = 0

    async def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> Any:
        if key == "revoked":
            raise bastion.Unauthorized("this key was revoked")
        if key == "suspended":
            raise bastion.Forbidden("this client is suspended")
        if key == "crash":
            raise RuntimeError("the key database is down")
        if key == "forgot-return":
            return None
        return Principal("custom-client")

    def jwt_auth(self, token: str, scheme: bastion.JWTScheme) -> Any:
        # A plain def: run in a worker thread.
        if token == "no-scopes-attribute":
            return SimpleNamespace(subject="scopeless")
        if token == "empty-scopes":
            return Principal("empty", scopes=frozenset())
        return Principal("reader", scopes=frozenset({"api:read"}))

    async def guarded(self, p: Any) -> dict[str, Any]:
        self.calls += 1
        return who()

    async def scoped(self, p: Any) -> dict[str, Any]:
        self.calls += 1
        return who()


@pytest.fixture
def custom() -> tuple[SecuredApp, Custom]:
    impl = Custom()
    return serve(custom_design(), {"custom": impl}), impl


async def test_handler_raising_unauthorized_is_a_401_with_its_message(
    custom: tuple[SecuredApp, Custom],
) -> None:
    served, impl = custom
    async with TestClient(served.app) as c:
        r = await c.get("/guarded", headers=key_header("revoked"))
    assert_error(r, 401, "unauthorized", "this key was revoked")
    assert r.headers["www-authenticate"] == 'APIKey realm="custom"'
    assert impl.calls == 0
    [failure] = served.auth_failures()
    assert (failure["scheme"], failure["reason"]) == ("api_key", "invalid")


async def test_handler_raising_forbidden_is_a_403_with_its_message(
    custom: tuple[SecuredApp, Custom],
) -> None:
    served, impl = custom
    async with TestClient(served.app) as c:
        r = await c.get("/guarded", headers=key_header("suspended"))
    assert_error(r, 403, "forbidden", "this client is suspended")
    # An API key 403 has no challenge to offer.
    assert "www-authenticate" not in r.headers
    assert impl.calls == 0
    [failure] = served.auth_failures()
    assert failure["reason"] == "forbidden"


async def test_handler_raising_another_exception_is_a_500_never_a_pass(
    custom: tuple[SecuredApp, Custom],
) -> None:
    served, impl = custom
    async with TestClient(served.app) as c:
        r = await c.get("/guarded", headers=key_header("crash"))
    assert_error(r, 500, "internal")
    body = r.json()
    assert body["fault"] is True
    assert "database" not in r.text  # the exception's text stays in the log
    assert impl.calls == 0
    [line] = [x for x in served.logs.lines if x["msg"] == "unexpected error"]
    assert line["error.id"] == body["id"]
    assert line["err"] == "RuntimeError: the key database is down"


async def test_handler_returning_none_is_a_500_never_a_pass(
    custom: tuple[SecuredApp, Custom],
) -> None:
    served, impl = custom
    async with TestClient(served.app) as c:
        r = await c.get("/guarded", headers=key_header("forgot-return"))
    assert_error(r, 500, "internal")
    assert impl.calls == 0


async def test_handler_principal_reaches_the_method(custom: tuple[SecuredApp, Custom]) -> None:
    served, impl = custom
    async with TestClient(served.app) as c:
        assert_who(await c.get("/guarded", headers=key_header("fine")), "custom-client",
                   ["api_key"])
        assert_who(await c.get("/scoped", headers=bearer("fine")), "reader", ["jwt"])
    assert impl.calls == 2


async def test_principal_without_scopes_on_a_scoped_requirement_is_a_403(
    custom: tuple[SecuredApp, Custom],
) -> None:
    served, impl = custom
    async with TestClient(served.app) as c:
        r = await c.get("/scoped", headers=bearer("no-scopes-attribute"))
        assert_error(r, 403, "forbidden", "principal carries no scopes")
        assert r.headers["www-authenticate"] == (
            'Bearer realm="custom", error="insufficient_scope", scope="api:read"'
        )
        r = await c.get("/scoped", headers=bearer("empty-scopes"))
        assert_error(r, 403, "forbidden", "missing scopes: api:read")
    assert impl.calls == 0


def test_missing_auth_handler_is_a_startup_error_naming_it() -> None:
    class NoJWT:
        async def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> Principal:
            return Principal("x")

        async def guarded(self, p: Any) -> None:
            return None

        async def scoped(self, p: Any) -> None:
            return None

    # A missing handler is a missing part of the service, as a missing method is.
    with pytest.raises(bastion.ImplementationError) as info:
        bastion.App(custom_design(), {"custom": NoJWT()})
    message = str(info.value)
    assert "service 'custom'" in message
    assert "jwt_auth(self, token: str, scheme: JWTScheme)" in message


async def test_auth_failure_hooks_get_every_refusal_and_a_raising_hook_changes_nothing(
    levels: SecuredApp,
) -> None:
    seen: list[AuthFailure] = []

    def broken(failure: AuthFailure) -> None:
        raise RuntimeError("metrics backend down")

    levels.app.auth_failure_hooks.extend([seen.append, broken])
    async with TestClient(levels.app) as c:
        r = await c.get("/admin/whoami", headers=basic("alice", BOB_PASSWORD))
        assert_error(r, 401, "unauthorized", "invalid username or password")
        assert_who(await c.get("/admin/whoami", headers=basic("alice", ALICE_PASSWORD)), "alice",
                   ["basic"])
    assert [(f.scheme, f.kind, f.method, f.client, f.reason) for f in seen] == [
        ("basic", "basic", "admin.whoami", "127.0.0.1", "invalid")
    ]
    assert any("auth failure hook raised" in x["msg"] for x in levels.logs.lines)
