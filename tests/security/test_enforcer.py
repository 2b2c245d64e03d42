from __future__ import annotations

import threading
from typing import Any

import msgspec
import pytest

from bastion.endpoint import ImplementationError
from bastion.errors import DesignError, Forbidden, Unauthorized
from bastion.security import (
    APIKeyScheme,
    APIKeyStore,
    AuthFailure,
    BasicScheme,
    JWTScheme,
    NoPrincipalError,
    Principal,
    Requirement,
    Scheme,
    SchemeRef,
    handlers_for,
    principal,
    principals,
    secure,
    set_client_address,
)
from bastion.security.testing import TokenFactory

JWT = JWTScheme("jwt", scopes=("api:read", "api:write"))
KEY = APIKeyScheme("api_key")
BASIC = BasicScheme("basic")
API_KEY = "acme-key-0123456789abcdef"


class Payload(msgspec.Struct):
    token: str | None = None
    key: str | None = None
    user: str | None = None
    password: str | None = None
    n: int = 0


@pytest.fixture(scope="module")
def tokens() -> TokenFactory:
    return TokenFactory("ES256")


class Service:
    """Auth handlers the way a user writes them: methods on the service."""

    def __init__(self, tokens: TokenFactory) -> None:
        self.keys = APIKeyStore()
        self.keys.add("acme", API_KEY, scopes=["api:read"])
        self.verifier = tokens.verifier()
        self.calls: list[str] = []
        self.seen_schemes: list[Scheme] = []

    async def jwt_auth(self, token: str, scheme: Scheme) -> Principal:
        self.calls.append("jwt")
        self.seen_schemes.append(scheme)
        return await self.verifier(token, scheme)

    async def api_key_auth(self, key: str, scheme: Scheme) -> Principal:
        self.calls.append("api_key")
        return await self.keys(key, scheme)

    def basic_auth(self, username: str, password: str, scheme: Scheme) -> Any:
        # Sync on purpose: it must run in a worker thread.
        self.calls.append(f"basic:{threading.current_thread() is threading.main_thread()}")
        if password != "pw":
            raise Unauthorized("bad password")
        return type("User", (), {"name": username})()  # a principal without scopes


def _ref(s: Scheme) -> SchemeRef:
    if s.kind == "basic":
        return SchemeRef(s, ("user", "password"))
    return SchemeRef(s, "token" if s.kind == "jwt" else "key")


async def _endpoint(payload: Payload) -> dict[str, Any]:
    return {"principal": principal(), "all": dict(principals()), "n": payload.n}


def _secure(svc: Service, *reqs: Requirement, **kw: Any) -> Any:
    kinds = {r.scheme.kind for req in reqs for r in req.schemes}
    return secure(_endpoint, reqs, handlers_for(svc, kinds), method_name="orders.create", **kw)


async def test_public_method_is_the_endpoint_itself_and_has_no_principal() -> None:
    async def public(payload: Payload) -> str:
        with pytest.raises(NoPrincipalError, match="outside a secured method call"):
            principal()
        return "ok"

    assert secure(public, (), {}, method_name="orders.ping") is public
    assert await public(Payload()) == "ok"


async def test_principal_is_set_only_while_the_method_runs(tokens: TokenFactory) -> None:
    svc = Service(tokens)
    ep = _secure(svc, Requirement((_ref(JWT),)))
    out = await ep(Payload(token=tokens.mint("alice"), n=7))
    assert out["principal"].subject == "alice" and out["n"] == 7
    assert set(out["all"]) == {"jwt"}
    with pytest.raises(NoPrincipalError):
        principal()
    with pytest.raises(LookupError):  # NoPrincipalError is a LookupError
        principals()


async def test_missing_credential_is_401_missing_and_reported(tokens: TokenFactory) -> None:
    svc = Service(tokens)
    failures: list[AuthFailure] = []
    ep = _secure(svc, Requirement((_ref(JWT),)), on_failure=failures.append)
    token = set_client_address("192.0.2.7")
    try:
        with pytest.raises(Unauthorized) as info:
            await ep(Payload())
    finally:
        from bastion.security import client_address

        client_address.reset(token)
    assert info.value.reason == "missing" and info.value.kind == "jwt"
    assert svc.calls == []  # no handler call without a credential
    assert failures == [AuthFailure("jwt", "jwt", "orders.create", "192.0.2.7", "missing")]


async def test_first_passing_alternative_wins(tokens: TokenFactory) -> None:
    svc = Service(tokens)
    ep = _secure(svc, Requirement((_ref(JWT),)), Requirement((_ref(KEY),)))
    out = await ep(Payload(token=tokens.mint("alice"), key=API_KEY))
    assert out["principal"].subject == "alice"
    assert svc.calls == ["jwt"]  # the API key handler was never asked


async def test_a_later_alternative_passes_when_an_earlier_fails(tokens: TokenFactory) -> None:
    svc = Service(tokens)
    failures: list[AuthFailure] = []
    ep = _secure(
        svc, Requirement((_ref(JWT),)), Requirement((_ref(KEY),)), on_failure=failures.append
    )
    out = await ep(Payload(token=tokens.mint(expires_in=-3600), key=API_KEY))
    assert out["principal"].subject == "acme"
    assert svc.calls == ["jwt", "api_key"]
    assert failures == []  # the call passed: nothing to report


async def test_when_all_alternatives_fail_the_last_error_is_raised(tokens: TokenFactory) -> None:
    svc = Service(tokens)
    failures: list[AuthFailure] = []
    ep = _secure(
        svc, Requirement((_ref(JWT),)), Requirement((_ref(KEY),)), on_failure=failures.append
    )
    with pytest.raises(Unauthorized) as info:
        await ep(Payload(token=tokens.mint(expires_in=-3600), key="wrong-key-0123456789abcdef"))
    assert info.value.scheme == "api_key" and info.value.message == "invalid API key"
    assert info.value.alternatives == ("jwt", "apikey")
    assert [(f.scheme, f.reason) for f in failures] == [("api_key", "invalid")]


async def test_combined_schemes_all_need_to_pass(tokens: TokenFactory) -> None:
    svc = Service(tokens)
    ep = _secure(svc, Requirement((_ref(JWT), _ref(KEY))))
    with pytest.raises(Unauthorized) as info:
        await ep(Payload(token=tokens.mint("alice")))
    assert info.value.scheme == "api_key" and info.value.reason == "missing"
    with pytest.raises(Unauthorized) as info:
        await ep(Payload(token=tokens.mint("alice"), key="wrong-key-0123456789abcdef"))
    assert info.value.reason == "invalid"
    out = await ep(Payload(token=tokens.mint("alice"), key=API_KEY))
    assert out["principal"].subject == "alice"  # the first scheme's principal
    assert out["all"]["api_key"].subject == "acme"


async def test_missing_scopes_are_403_naming_them(tokens: TokenFactory) -> None:
    svc = Service(tokens)
    failures: list[AuthFailure] = []
    ep = _secure(
        svc, Requirement((_ref(JWT),), scopes=("api:read", "api:write")), on_failure=failures.append
    )
    with pytest.raises(Forbidden) as info:
        await ep(Payload(token=tokens.mint(scopes=["api:read"])))
    assert isinstance(info.value, Forbidden)
    assert info.value.message == "missing scopes: api:write"
    assert info.value.missing_scopes == ("api:write",)
    assert info.value.required_scopes == ("api:read", "api:write")
    assert failures[0].reason == "insufficient_scope"
    out = await ep(Payload(token=tokens.mint("ok", scopes=["api:write", "api:read"])))
    assert out["principal"].subject == "ok"
    # The handler saw the scheme with the requirement's scopes filled in.
    assert svc.seen_schemes[-1].required_scopes == ("api:read", "api:write")
    assert svc.seen_schemes[-1].scopes == ("api:read", "api:write")


async def test_combined_requirement_scopes_come_from_all_its_principals(
    tokens: TokenFactory,
) -> None:
    svc = Service(tokens)
    ep = _secure(svc, Requirement((_ref(JWT), _ref(KEY)), scopes=("api:read", "orders")))
    out = await ep(Payload(token=tokens.mint("alice", scopes=["orders"]), key=API_KEY))
    assert out["principal"].subject == "alice"


async def test_principal_without_scopes_fails_closed_when_scopes_are_required(
    tokens: TokenFactory,
) -> None:
    svc = Service(tokens)
    open_ep = _secure(svc, Requirement((_ref(BASIC),)))
    out = await open_ep(Payload(user="bob", password="pw"))
    assert out["principal"].name == "bob"
    assert svc.calls == ["basic:False"]  # the sync handler ran off the event loop thread

    scoped = _secure(svc, Requirement((_ref(BASIC),), scopes=("api:read",)))
    with pytest.raises(Forbidden) as info:
        await scoped(Payload(user="bob", password="pw"))
    assert info.value.message == "principal carries no scopes"
    assert info.value.missing_scopes == ("api:read",)


async def test_scopes_given_as_a_string_are_split_not_searched() -> None:
    class Svc:
        async def api_key_auth(self, key: str, scheme: Scheme) -> Any:
            return type("P", (), {"scopes": "api:readonly other"})()

    ep = secure(
        _endpoint,
        (Requirement((_ref(KEY),), scopes=("api:read",)),),
        handlers_for(Svc(), ["apikey"]),
        method_name="m",
    )
    with pytest.raises(Forbidden, match="missing scopes: api:read"):
        await ep(Payload(key="k"))


async def test_plain_unauthorized_and_forbidden_from_handlers_are_carried(
    tokens: TokenFactory,
) -> None:
    svc = Service(tokens)
    ep = _secure(svc, Requirement((_ref(BASIC),)))
    with pytest.raises(Unauthorized) as info:
        await ep(Payload(user="bob", password="nope"))
    assert info.value.message == "bad password" and info.value.scheme == "basic"
    assert "nope" not in repr(info.value)

    class Svc:
        async def jwt_auth(self, token: str, scheme: Scheme) -> Any:
            raise Forbidden("account suspended")

    ep2 = secure(
        _endpoint, (Requirement((_ref(JWT),)),), handlers_for(Svc(), ["jwt"]), method_name="m"
    )
    with pytest.raises(Forbidden, match="account suspended") as info2:
        await ep2(Payload(token="t"))
    assert info2.value.scheme == "jwt"


async def test_other_handler_exceptions_propagate_and_never_pass() -> None:
    called: list[bool] = []

    async def endpoint(payload: Payload) -> str:
        called.append(True)
        return "ran"

    class Broken:
        async def jwt_auth(self, token: str, scheme: Scheme) -> Any:
            raise RuntimeError("database down")

    class Forgetful:
        async def jwt_auth(self, token: str, scheme: Scheme) -> Any:
            return None  # forgot `return principal`

    for svc, exc_type in ((Broken(), RuntimeError), (Forgetful(), TypeError)):
        ep = secure(
            endpoint,
            (Requirement((_ref(JWT),)), Requirement((_ref(KEY),))),
            {**handlers_for(svc, ["jwt"]), "apikey": APIKeyStore()},
            method_name="m",
        )
        with pytest.raises(exc_type):
            await ep(Payload(token="t", key=API_KEY))
    assert called == []


async def test_verifiers_can_be_the_handlers_directly(tokens: TokenFactory) -> None:
    class Svc:
        jwt_auth = tokens.verifier()

    ep = secure(
        _endpoint, (Requirement((_ref(JWT),)),), handlers_for(Svc(), ["jwt"]), method_name="m"
    )
    assert (await ep(Payload(token=tokens.mint("v"))))["principal"].subject == "v"


def test_missing_handlers_are_an_implementation_error_naming_them() -> None:
    # A missing auth handler is a missing part of the service, like a missing method.
    class Svc:
        async def jwt_auth(self, token: str, scheme: Scheme) -> Any: ...

    with pytest.raises(ImplementationError) as info:
        handlers_for(Svc(), ["jwt", "apikey", "basic"], service_name="orders")
    text = str(info.value)
    assert "service 'orders'" in text
    assert "api_key_auth(self, key: str, scheme: APIKeyScheme)" in text
    assert "basic_auth(self, username: str, password: str" in text
    assert "jwt_auth" not in text


def test_credential_shapes_are_checked_at_startup() -> None:
    with pytest.raises(DesignError, match="must be a \\(username_attribute"):
        secure(
            _endpoint,
            (Requirement((SchemeRef(BASIC, "user"),)),),
            {"basic": lambda *a: None},
            method_name="orders.create",
        )
    with pytest.raises(ImplementationError, match="no auth handler for scheme 'jwt'"):
        secure(
            _endpoint, (Requirement((SchemeRef(JWT, "token"),)),), {}, method_name="orders.create"
        )
