"""Security in a design is checked when the design is: a clear `DesignError` per mistake.

Each error names the element (method, scheme, scope) and the file:line of the DSL call
at fault, here this test file's lines, and the `App` refuses the design at startup.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import bastion
from bastion.dsl import *
from bastion.dsl.expr import SchemeExpr
from tests.dsl.support import finalize_error
from tests.support.lines import at, next_line


@pytest.fixture(autouse=True)
def _no_scheme_left_pending() -> Iterator[None]:
    # A scheme declared outside an API block waits for the next API(...): start a
    # throwaway design after each test so nothing declared here reaches another test.
    yield
    with API("drain-pending-schemes"):
        pass


# ---------------------------------------------------------------------------- credentials


def test_a_method_names_its_credential_attributes_once_for_the_check_and_the_runtime() -> None:
    from bastion.endpoint import Endpoints
    from bastion.schema.compile import TypeCompiler

    with API("creds") as api:
        key = APIKeySecurity("api_key")
        basic = BasicAuthSecurity("basic")
    with Service("s"):
        with Method("login"):
            Security(basic)
            Security(key)
            with Payload():
                Username("user", String)
                Password("pass", String)
                APIKey("api_key", "key", String)
                Attribute("note", String)
            with HTTP():
                POST("/login")
        with Method("list"):
            NoSecurity()
            with HTTP():
                GET("/list")
    api.finalize()
    methods = api.services["s"].methods
    assert sorted(methods["login"].credentials()) == ["key", "pass", "user"]
    assert methods["list"].credentials() == {}
    impl = type("Impl", (), {"login": lambda self, p: None, "list": lambda self: None})()
    infos = Endpoints(api.services["s"], impl, TypeCompiler(api)).infos
    assert infos["login"].credentials == frozenset({"key", "pass", "user"})
    assert infos["list"].credentials == frozenset()


def test_secured_method_without_its_token_attribute() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
    with Service("orders"):
        line = next_line()
        with Method("show"):
            Security(jwt, scopes=["api:read"])
            with Payload():
                Attribute("id", String)
            with HTTP():
                GET("/orders/{id}")
    assert finalize_error(api) == (
        at(line) + "method 'show' of service 'orders' is secured by jwt scheme 'jwt' but its "
        "payload has no token attribute: add Token(\"token\", String) to the Payload"
    )


def test_secured_method_without_any_payload() -> None:
    with API("a") as api:
        key = APIKeySecurity("api_key")
    with Service("orders"):
        line = next_line()
        with Method("list"):
            Security(key)
            with HTTP():
                GET("/orders")
    message = finalize_error(api)
    assert message.startswith(at(line) + "method 'list' of service 'orders'")
    assert "apikey scheme 'api_key'" in message
    assert 'APIKey("api_key", "key", String)' in message


def test_basic_scheme_needs_username_and_password() -> None:
    with API("a") as api:
        basic = BasicAuthSecurity("basic")
    with Service("admin"):
        line = next_line()
        with Method("login"):
            Security(basic)
            with Payload():
                Username("user", String)
            with HTTP():
                POST("/login")
    message = finalize_error(api)
    assert message.startswith(at(line) + "method 'login' of service 'admin'")
    assert "no password attribute" in message
    assert 'Password("pass", String)' in message
    assert "username attribute" not in message


def test_oauth2_scheme_needs_an_access_token_not_a_token() -> None:
    with API("a") as api:
        oauth = OAuth2Security("oauth2", flows=[ClientCredentialsFlow("https://idp/token")],
                               scopes={"api:read": "Read"})
    with Service("s"):
        line = next_line()
        with Method("m"):
            Security(oauth)
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    message = finalize_error(api)
    assert message.startswith(at(line))
    assert "oauth2 scheme 'oauth2'" in message
    assert 'AccessToken("token", String)' in message


def test_api_key_attribute_of_another_scheme_does_not_count() -> None:
    with API("a") as api:
        partner = APIKeySecurity("partner")
        APIKeySecurity("internal")
    with Service("s"):
        line = next_line()
        with Method("m"):
            Security(partner)
            with Payload():
                APIKey("internal", "key", String)
            with HTTP():
                GET("/m")
    message = finalize_error(api)
    assert message.startswith(at(line))
    assert "apikey scheme 'partner'" in message


def test_api_key_attribute_naming_an_undeclared_scheme() -> None:
    with API("a") as api:
        key = APIKeySecurity("api_key")
    with Service("s"):
        with Method("m"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
                line = next_line()
                APIKey("nope", "other", String)
            with HTTP():
                GET("/m")
                Param("other")  # not a second reader of X-API-Key: one problem only
    assert finalize_error(api) == (
        at(line) + "method 'm' of service 's': APIKey names scheme 'nope', which is never declared"
    )


def test_api_default_is_checked_on_every_method_that_inherits_it() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
        Security(jwt)
    with Service("s"):
        line_a = next_line()
        with Method("a"):
            with HTTP():
                GET("/a")
        with Method("b"):
            NoSecurity()  # public: needs no credential
            with HTTP():
                GET("/b")
        with Method("c"):
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/c")
    message = finalize_error(api)
    assert message == (
        at(line_a) + "method 'a' of service 's' is secured by jwt scheme 'jwt' but its payload "
        "has no token attribute: add Token(\"token\", String) to the Payload"
    )


def test_service_default_is_checked_on_its_methods() -> None:
    with API("a") as api:
        basic = BasicAuthSecurity("basic")
    with Service("s"):
        Security(basic)
        line = next_line()
        with Method("m"):
            with Payload():
                Attribute("q", String)
            with HTTP():
                GET("/m")
                Param("q")
    message = finalize_error(api)
    assert message.startswith("2 problems in the design:")
    assert f"  {at(line)}method 'm' of service 's' is secured by basic scheme 'basic'" in message
    assert "no username attribute" in message
    assert "no password attribute" in message


def test_every_alternative_needs_its_credential() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
        key = APIKeySecurity("api_key")
    with Service("s"):
        line = next_line()
        with Method("m"):
            Security(jwt)
            Security(key)
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    message = finalize_error(api)
    assert message.startswith(at(line))
    assert "apikey scheme 'api_key'" in message


# ---------------------------------------------------------------------------- scopes


def test_required_scope_the_scheme_does_not_declare() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read", "api:write": "Write"})
    with Service("s"):
        with Method("m"):
            line = next_line()
            Security(jwt, scopes=["api:read", "api:admin"])
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    assert finalize_error(api) == (
        at(line) + "Security requires scope 'api:admin', which scheme 'jwt' does not declare "
        "(declared: api:read, api:write)"
    )


def test_required_scope_undeclared_at_api_level() -> None:
    with API("a") as api:
        oauth = OAuth2Security("oauth2", flows=[ClientCredentialsFlow("https://idp/token")],
                               scopes={"api:read": "Read"})
        line = next_line()
        Security(oauth, scopes=["api:write"])
    with Service("s"):
        with Method("m"):
            with Payload():
                AccessToken("token", String)
            with HTTP():
                GET("/m")
    message = finalize_error(api)
    assert message == (
        at(line) + "Security requires scope 'api:write', which scheme 'oauth2' does not declare "
        "(declared: api:read)"
    )


def test_scopes_on_schemes_that_carry_none() -> None:
    with API("a") as api:
        key = APIKeySecurity("api_key")
        basic = BasicAuthSecurity("basic")
    with Service("s"):
        with Method("m"):
            line = next_line()
            Security(key, basic, scopes=["api:read"])
            with Payload():
                APIKey("api_key", "key", String)
                Username("user", String)
                Password("password", String)
            with HTTP():
                GET("/m")
    message = finalize_error(api)
    assert message.startswith(at(line) + "Security requires scope 'api:read'")
    assert "use a JWT or OAuth2 scheme" in message


# ---------------------------------------------------------------------------- scheme names


def test_scheme_used_by_name_but_never_declared() -> None:
    with API("a") as api:
        JWTSecurity("jwt", scopes={"api:read": "Read"})
    with Service("s"):
        with Method("m"):
            line = next_line()
            Security("jtw")
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    assert finalize_error(api) == (
        at(line) + "Security uses scheme 'jtw', which is never declared (declared schemes: jwt)"
    )


def test_scheme_used_by_its_declared_name_is_resolved() -> None:
    with API("a") as api:
        JWTSecurity("jwt", scopes={"api:read": "Read"})
        Security("jwt", scopes=["api:read"])
    with Service("s"):
        with Method("m"):
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    api.finalize()
    [req] = api.requirements
    assert [s.name for s in req.schemes if isinstance(s, SchemeExpr)] == ["jwt"]


def test_two_different_schemes_with_one_name() -> None:
    with API("a") as api:
        first_line = next_line()
        JWTSecurity("auth", scopes={"api:read": "Read"})
    with Service("s"):
        with Method("m"):
            other_line = next_line()
            other = APIKeySecurity("auth")
            line = next_line()
            Security(other)
            with Payload():
                APIKey("auth", "key", String)
            with HTTP():
                GET("/m")
    message = finalize_error(api)
    assert message.startswith(at(line) + "two different schemes are named 'auth'")
    assert f"{__file__}:{first_line}" in message
    assert f"{__file__}:{other_line}" in message


def test_scheme_declared_after_the_api_block_belongs_to_that_api() -> None:
    # `API(...)` starts a design; schemes declared after it attach to it (bastion.dsl's
    # own docstring), so using one by name works.
    with API("a") as api:
        Title("A")
    JWTSecurity("late", scopes={"api:read": "Read"})
    with Service("s"):
        with Method("m"):
            Security("late", scopes=["api:read"])
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    api.finalize()
    assert "late" in api.schemes


def test_a_scheme_of_one_design_does_not_leak_into_the_next() -> None:
    with API("first") as first:
        Title("First")
    jwt_first = JWTSecurity("jwt", scopes={"first:read": "Read"})
    with Service("s"):
        with Method("m"):
            Security(jwt_first)
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    first.finalize()

    # A new design, with its own scheme of the same name: nothing of the first one.
    with API("second") as second:
        jwt_second = JWTSecurity("jwt", scopes={"second:read": "Read"})
        Security(jwt_second, scopes=["second:read"])
    with Service("s"):
        with Method("m"):
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    second.finalize()
    assert second.schemes["jwt"] is jwt_second


# ---------------------------------------------------------------------------- NoSecurity


def test_no_security_combined_with_security_on_one_method() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
    with Service("s"):
        with Method("m"):
            security_line = next_line()
            Security(jwt)
            line = next_line()
            NoSecurity()
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    assert finalize_error(api) == (
        at(line) + "method 'm' of service 's': NoSecurity is combined with Security "
        f"(at {__file__}:{security_line}); keep one"
    )


def test_no_security_outside_a_method_fails_at_the_call() -> None:
    with API("a"):
        pass
    with Service("s"):
        with pytest.raises(DesignError) as info:
            line = next_line()
            NoSecurity()
    assert str(info.value) == at(line) + "NoSecurity must be called inside Method"


# ---------------------------------------------------------------------------- misuse at the call


def test_security_outside_a_block_fails_at_the_call() -> None:
    with API("a"):
        jwt = JWTSecurity("jwt")
    with pytest.raises(DesignError) as info:
        line = next_line()
        Security(jwt)
    assert str(info.value) == at(line) + "Security must be called inside API, Service or Method"


def test_security_without_a_scheme_fails_at_the_call() -> None:
    with API("a"):
        with pytest.raises(DesignError) as info:
            line = next_line()
            Security()
    assert str(info.value) == at(line) + "Security needs at least one scheme"


def test_malformed_rate_limits_fail_at_the_call() -> None:
    with API("a"):
        with pytest.raises(DesignError) as info:
            line = next_line()
            APIKeySecurity("api_key", rate_limit="often")
    assert str(info.value).startswith(at(line) + "rate limit 'often' must read like")
    with Service("s"), Method("m"):
        with pytest.raises(DesignError) as info:
            line = next_line()
            RateLimit("100 a minute")
    assert str(info.value).startswith(at(line) + "rate limit '100 a minute' must read like")


def test_rate_limit_on_the_api_fails_at_the_call() -> None:
    with API("a"):
        with pytest.raises(DesignError) as info:
            line = next_line()
            RateLimit("10/second")
    assert str(info.value) == at(line) + "RateLimit must be called inside Service or Method"


# ---------------------------------------------------------------------------- HTTP defaults


async def test_token_and_basic_credentials_share_authorization_by_scheme_word() -> None:
    import base64

    import bastion
    from bastion.security import Principal
    from bastion.testing import TestClient

    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
        basic = BasicAuthSecurity("basic")
    with Service("s"), Method("m"):
        Security(jwt)
        Security(basic)
        with Payload():
            Token("token", String)
            Username("user", String)
            Password("password", String)
        with Result():
            Attribute("who", String)
        with HTTP():
            GET("/m")
    assert api.finalize().services["s"].methods["m"].http.authorization == {  # type: ignore[union-attr]
        "token": "bearer", "user": "basic-username", "password": "basic-password"}

    class S:
        async def jwt_auth(self, token: str, scheme: object) -> Principal:
            if token != "good-token":
                raise bastion.Unauthorized("bad token")
            return Principal("jwt-user")

        async def basic_auth(self, user: str, password: str, scheme: object) -> Principal:
            if (user, password) != ("ada", "pw"):
                raise bastion.Unauthorized("bad password")
            return Principal(user)

        async def m(self, p: object) -> dict[str, str]:
            return {"who": bastion.principal().subject}

    app = bastion.App(api, {"s": S()}, observe=False)
    basic_header = "Basic " + base64.b64encode(b"ada:pw").decode()
    async with TestClient(app) as client:
        by_token = await client.get("/m", headers={"Authorization": "Bearer good-token"})
        by_password = await client.get("/m", headers={"Authorization": basic_header})
        neither = await client.get("/m")
    assert by_token.json() == {"who": "jwt-user"}
    assert by_password.json() == {"who": "ada"}
    assert neither.status_code == 401


def test_token_moved_off_authorization_lets_basic_use_it() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
        basic = BasicAuthSecurity("basic")
    with Service("s"):
        with Method("m"):
            Security(jwt)
            Security(basic)
            with Payload():
                Token("token", String)
                Username("user", String)
                Password("password", String)
            with HTTP():
                GET("/m")
                Header("token:X-Token")
    api.finalize()
    http = api.services["s"].methods["m"].http
    assert http is not None
    assert http.authorization == {"user": "basic-username", "password": "basic-password"}
    assert http.headers == {"token": "X-Token"}


def test_credential_defaults_are_filled_in_by_finalize() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
        key = APIKeySecurity("api_key")
    with Service("s"):
        with Method("m"):
            Security(jwt, key)
            with Payload():
                Token("token", String)
                APIKey("api_key", "key", String)
            with HTTP():
                GET("/m")
        with Method("explicit"):
            Security(jwt)
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/explicit")
                Header("token:Authorization")
    api.finalize()
    m = api.services["s"].methods["m"].http
    explicit = api.services["s"].methods["explicit"].http
    assert m is not None and explicit is not None
    assert m.authorization == {"token": "bearer"}
    assert m.headers == {"key": "X-API-Key"}
    # Mapped to Authorization by hand: still a bearer token, "Bearer " stripped.
    assert explicit.authorization == {"token": "bearer"}
    assert explicit.headers == {}


# ---------------------------------------------------------------------------- all at once


def test_every_security_problem_is_reported_at_once_and_the_app_refuses_the_design() -> None:
    with API("a") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
    with Service("s"):
        missing_line = next_line()
        with Method("no_token"):
            Security(jwt)
            with HTTP():
                GET("/a")
        with Method("bad_scope"):
            scope_line = next_line()
            Security(jwt, scopes=["api:admin"])
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/b")
        with Method("unknown"):
            name_line = next_line()
            Security("ghost")
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/c")
        with Method("both"):
            Security(jwt)
            public_line = next_line()
            NoSecurity()
            with HTTP():
                GET("/d")
    with pytest.raises(DesignError) as info:
        bastion.App(api, {"s": object()})
    message = str(info.value)
    assert message.startswith("4 problems in the design:\n")
    for line, what in (
        (missing_line, "method 'no_token' of service 's' is secured by jwt scheme 'jwt'"),
        (scope_line, "Security requires scope 'api:admin'"),
        (name_line, "Security uses scheme 'ghost', which is never declared"),
        (public_line, "method 'both' of service 's': NoSecurity is combined with Security"),
    ):
        assert f"  {at(line)}{what}" in message
