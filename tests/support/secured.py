"""Secured designs served end to end by the security tests, and what their methods answer.

Every secured method answers `who()`: whom `bastion.principal()` names and by which
schemes. The credentials are real and random per run (API keys, scrypt password hashes),
so a test can only pass if the App checks them; JWTs come from `TokenFactory`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

import bastion
from bastion.dsl import (
    API,
    GET,
    HTTP,
    POST,
    APIExpr,
    APIKey,
    APIKeySecurity,
    ArrayOf,
    Attribute,
    BasicAuthSecurity,
    Cookie,
    Header,
    JWTSecurity,
    Method,
    NoSecurity,
    Param,
    Password,
    Payload,
    Required,
    Result,
    Security,
    Service,
    String,
    Token,
    Username,
)
from bastion.security import (
    APIKeyStore,
    BasicVerifier,
    Handler,
    NoPrincipalError,
    hash_password,
    principals,
)
from bastion.security.testing import TokenFactory
from bastion.testing import LogCapture

ISSUER = "https://idp.bastion.test/"
AUDIENCE = "bastion-tests"

# Real credentials, random per run, so a test can only pass if the server checks them.
KEY_ACME_OLD = APIKeyStore.generate()
KEY_ACME_NEW = APIKeyStore.generate()
KEY_GLOBEX = APIKeyStore.generate()
KEY_EXPIRED = APIKeyStore.generate()
KEY_UNKNOWN = APIKeyStore.generate()
ALICE_PASSWORD = "alice-" + APIKeyStore.generate()[:20]
BOB_PASSWORD = "bob-" + APIKeyStore.generate()[:20]
CAROL_PASSWORD = "carol:has:colons-" + APIKeyStore.generate()[:12]
# Cost 10 (1 MiB) keeps scrypt fast here; production uses the default 15.
PASSWORD_HASHES = {
    "alice": hash_password(ALICE_PASSWORD, cost=10),
    "bob": hash_password(BOB_PASSWORD, cost=10),
    "carol": hash_password(CAROL_PASSWORD, cost=10),
}


def who() -> dict[str, Any]:
    """What a secured method answers: whom `bastion.principal()` names, and by which schemes."""
    p = bastion.principal()
    return {"subject": getattr(p, "subject", "?"), "schemes": sorted(principals())}


def who_result() -> None:
    """Declare the result of methods answering `who()`."""
    with Result():
        Attribute("subject", String)
        Attribute("schemes", ArrayOf(String))
        Required("subject", "schemes")


def key_store() -> APIKeyStore:
    """Acme holds two active keys (a rotation in progress), Globex one, Initech an expired one."""
    store = APIKeyStore()
    store.add("acme", KEY_ACME_OLD, scopes=["api:read"])
    store.add("acme", KEY_ACME_NEW, scopes=["api:read"])
    store.add("globex", KEY_GLOBEX)
    store.add("initech", KEY_EXPIRED, expires_at=datetime.now(UTC) - timedelta(days=1))
    return store


def assert_who(r: httpx.Response, subject: str, schemes: list[str]) -> None:
    """Assert a 200 whose method saw `subject` as `bastion.principal()`."""
    assert r.status_code == 200, r.text
    assert r.json() == {"subject": subject, "schemes": sorted(schemes)}


@dataclass
class SecuredApp:
    """An App with its log lines captured in a `LogCapture` (at the Logger's default level)."""

    app: bastion.App
    logs: LogCapture = field(repr=False)

    def auth_failures(self) -> list[dict[str, Any]]:
        """The `auth failure` lines written so far."""
        return [x for x in self.logs.lines if x["msg"] == "auth failure"]


def serve(api: APIExpr, services: dict[str, object], **kw: Any) -> SecuredApp:
    """Build an App for `api` whose log lines `served.logs` reads back."""
    logs = LogCapture(level="info")
    return SecuredApp(bastion.App(api, services, logger=logs.logger, **kw), logs)


def levels_design() -> APIExpr:
    """API default, service and method overrides, NoSecurity, alternatives, combinations,
    and every credential location."""
    with API("sec") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read", "api:write": "Write"})
        key = APIKeySecurity("api_key")
        basic_ = BasicAuthSecurity("basic")
        Security(jwt, scopes=["api:read"])  # the API default

    with Service("docs"):
        with Method("read"):  # no Security: the API default applies
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                GET("/docs/read")
        with Method("write"):
            Security(jwt, scopes=["api:write"])  # overrides the API default
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                POST("/docs/write")
        with Method("public"):
            NoSecurity()
            who_result()
            with HTTP():
                GET("/docs/public")
        with Method("either"):
            Security(key)  # two calls: alternatives
            Security(basic_)
            with Payload():
                APIKey("api_key", "key", String)
                Username("user", String)
                Password("password", String)
            who_result()
            with HTTP():
                GET("/docs/either")
        with Method("both"):
            Security(key, basic_)  # one call: both needed
            with Payload():
                APIKey("api_key", "key", String)
                Username("user", String)
                Password("password", String)
            who_result()
            with HTTP():
                GET("/docs/both")
        with Method("scoped_then_key"):
            Security(jwt, scopes=["api:write"])
            Security(key)
            with Payload():
                Token("token", String)
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/docs/scoped-then-key")
        with Method("key_then_scoped"):
            Security(key)
            Security(jwt, scopes=["api:write"])
            with Payload():
                Token("token", String)
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/docs/key-then-scoped")

    with Service("admin"):
        Security(basic_)  # overrides the API default for the whole service
        with Method("whoami"):
            with Payload():
                Username("user", String)
                Password("password", String)
            who_result()
            with HTTP():
                GET("/admin/whoami")
        with Method("keyed"):
            Security(key)  # overrides the service
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/admin/keyed")

    with Service("where"):
        Security(key)
        with Method("default_header"):
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/where/default-header")
        with Method("query"):
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/where/query")
                Param("key:api_key")
        with Method("cookie"):
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/where/cookie")
                Cookie("key:session")
        with Method("header"):
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/where/header")
                Header("key:X-Key")
        with Method("authorization"):
            Security(jwt, scopes=["api:read"])
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                GET("/where/authorization")
                Header("token:Authorization")
        with Method("jwt_query"):
            Security(jwt, scopes=["api:read"])
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                GET("/where/jwt-query")
                Param("token:access_token")
        with Method("jwt_cookie"):
            Security(jwt, scopes=["api:read"])
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                GET("/where/jwt-cookie")
                Cookie("token:jwt")
    return api


class Auth:
    """The three handlers every test service shares: real verifiers."""

    def __init__(self, tokens: TokenFactory) -> None:
        self.jwt_auth = tokens.verifier()
        self.basic_auth = BasicVerifier(PASSWORD_HASHES, scopes={"alice": ["api:read"]})
        self.api_key_auth = key_store()


class Docs(Auth):
    async def read(self, p: Any) -> dict[str, Any]:
        return who()

    async def write(self, p: Any) -> dict[str, Any]:
        return who()

    async def public(self) -> dict[str, Any]:
        try:
            bastion.principal()
        except NoPrincipalError:
            return {"subject": "nobody", "schemes": []}
        return {"subject": "a principal leaked into a public method", "schemes": []}

    async def either(self, p: Any) -> dict[str, Any]:
        return who()

    async def both(self, p: Any) -> dict[str, Any]:
        return who()

    async def scoped_then_key(self, p: Any) -> dict[str, Any]:
        return who()

    async def key_then_scoped(self, p: Any) -> dict[str, Any]:
        return who()


class Admin(Auth):
    async def whoami(self, p: Any) -> dict[str, Any]:
        return who()

    async def keyed(self, p: Any) -> dict[str, Any]:
        return who()


class Where(Auth):
    async def default_header(self, p: Any) -> dict[str, Any]:
        return who()

    async def query(self, p: Any) -> dict[str, Any]:
        return who()

    async def cookie(self, p: Any) -> dict[str, Any]:
        return who()

    async def header(self, p: Any) -> dict[str, Any]:
        return who()

    async def authorization(self, p: Any) -> dict[str, Any]:
        return who()

    async def jwt_query(self, p: Any) -> dict[str, Any]:
        return who()

    async def jwt_cookie(self, p: Any) -> dict[str, Any]:
        return who()


BASIC_CHALLENGE = 'Basic realm="sec", charset="UTF-8"'
APIKEY_CHALLENGE = 'APIKey realm="sec"'


def jwt_design() -> APIExpr:
    with API("tokens") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read", "api:write": "Write"})
        Security(jwt, scopes=["api:read"])
    with Service("tokens"):
        with Method("me"):
            with Payload():
                Token("token", String)
            who_result()
            with HTTP():
                GET("/me")
    return api


class Tokens:
    def __init__(self, verifier: Handler) -> None:
        self.jwt_auth = verifier

    async def me(self, p: Any) -> dict[str, Any]:
        return who()


def jwt_app(verifier: Handler) -> SecuredApp:
    return serve(jwt_design(), {"tokens": Tokens(verifier)})


def keys_design(*, scheme_limit: str | None = None) -> APIExpr:
    with API("keys") as api:
        key = APIKeySecurity("api_key", rate_limit=scheme_limit)
    with Service("keys"):
        Security(key)
        for name in ("one", "two"):
            with Method(name):
                with Payload():
                    APIKey("api_key", "key", String)
                who_result()
                with HTTP():
                    GET(f"/{name}")
    return api


class Keys:
    def __init__(self, store: APIKeyStore) -> None:
        self.api_key_auth = store

    async def one(self, p: Any) -> dict[str, Any]:
        return who()

    def two(self, p: Any) -> dict[str, Any]:
        # A plain def runs in a worker thread: the principal goes with the context.
        return who()
