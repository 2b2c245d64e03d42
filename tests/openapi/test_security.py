"""Security in the OpenAPI document: schemes, flows, scopes and per-operation requirements."""

from __future__ import annotations

from bastion.dsl import *
from tests.openapi.support import body_schema, checked, op, params

SCOPES = {"read": "Read things", "write": "Write things"}


def test_the_four_scheme_kinds() -> None:
    with API("schemes") as api:
        basic = BasicAuthSecurity("basic", description="User and password.")
        key = APIKeySecurity("api_key")
        jwt = JWTSecurity("jwt", scopes=SCOPES)
        oauth = OAuth2Security(
            "oauth",
            description="OAuth2.",
            flows=[
                AuthorizationCodeFlow("https://auth.example.com/authorize",
                                      "https://auth.example.com/token",
                                      "https://auth.example.com/refresh"),
                ImplicitFlow("https://auth.example.com/authorize"),
                PasswordFlow("https://auth.example.com/token"),
                ClientCredentialsFlow("https://auth.example.com/token"),
            ],
            scopes=SCOPES,
        )
        BasicAuthSecurity("unused")
    with Service("s"):
        with Method("b"):
            Security(basic)
            with Payload():
                Username("user")
                Password("pass")
            with HTTP():
                GET("/b")
        with Method("k"):
            Security(key)
            with Payload():
                APIKey("api_key", "key")
            with HTTP():
                GET("/k")
                Param("key:api_key")
        with Method("j"):
            Security(jwt, scopes=["read"])
            with Payload():
                Token("token")
            with HTTP():
                GET("/j")
        with Method("o"):
            Security(oauth, scopes=["write"])
            with Payload():
                AccessToken("token")
            with HTTP():
                GET("/o")
    doc = checked(api)
    schemes = doc["components"]["securitySchemes"]
    assert list(schemes) == ["basic", "api_key", "jwt", "oauth"]  # `unused` is left out
    assert schemes["basic"] == {"type": "http", "scheme": "basic",
                                "description": "User and password."}
    assert schemes["api_key"] == {"type": "apiKey", "in": "query", "name": "api_key"}
    assert schemes["jwt"]["type"] == "http"
    assert schemes["jwt"]["scheme"] == "bearer"
    assert schemes["jwt"]["bearerFormat"] == "JWT"
    assert "`read`: Read things" in schemes["jwt"]["description"]
    assert schemes["oauth"] == {
        "type": "oauth2",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "https://auth.example.com/authorize",
                "tokenUrl": "https://auth.example.com/token",
                "refreshUrl": "https://auth.example.com/refresh",
                "scopes": SCOPES,
            },
            "implicit": {"authorizationUrl": "https://auth.example.com/authorize",
                         "scopes": SCOPES},
            "password": {"tokenUrl": "https://auth.example.com/token", "scopes": SCOPES},
            "clientCredentials": {"tokenUrl": "https://auth.example.com/token",
                                  "scopes": SCOPES},
        },
        "description": "OAuth2.",
    }
    assert op(doc, "GET", "/b")["security"] == [{"basic": []}]
    assert op(doc, "GET", "/k")["security"] == [{"api_key": []}]
    assert op(doc, "GET", "/j")["security"] == [{"jwt": ["read"]}]
    assert op(doc, "GET", "/o")["security"] == [{"oauth": ["write"]}]
    # Credentials the schemes document are not parameters too.
    for path in ("/b", "/k", "/j", "/o"):
        assert "parameters" not in op(doc, "GET", path), path


def test_api_key_location_and_name_come_from_the_first_method_using_it() -> None:
    with API("keys") as api:
        header_key = APIKeySecurity("h")
        cookie_key = APIKeySecurity("c")
        default_key = APIKeySecurity("d")
    with Service("s"):
        with Method("h"):
            Security(header_key)
            with Payload():
                APIKey("h", "key")
            with HTTP():
                GET("/h")
                Header("key:X-Shop-Key")
        with Method("c"):
            Security(cookie_key)
            with Payload():
                APIKey("c", "key")
            with HTTP():
                GET("/c")
                Cookie("key:session_key")
        with Method("d"):
            Security(default_key)
            with Payload():
                APIKey("d", "key")
            with HTTP():
                GET("/d")
    doc = checked(api)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["h"] == {"type": "apiKey", "in": "header", "name": "X-Shop-Key"}
    assert schemes["c"] == {"type": "apiKey", "in": "cookie", "name": "session_key"}
    assert schemes["d"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path in ("/h", "/c", "/d"):
        assert "parameters" not in op(doc, "GET", path), path


def test_an_api_key_read_elsewhere_than_its_scheme_says_stays_a_parameter() -> None:
    with API("elsewhere") as api:
        key = APIKeySecurity("key")
    with Service("s"):
        with Method("first"):
            Security(key)
            with Payload():
                APIKey("key", "k")
            with HTTP():
                GET("/first")
        with Method("second"):
            Security(key)
            with Payload():
                APIKey("key", "k")
                Required("k")
            with HTTP():
                GET("/second")
                Param("k:key")
        with Method("public"):
            NoSecurity()
            with Payload():
                APIKey("key", "k")
            with HTTP():
                GET("/public")
    doc = checked(api)
    assert doc["components"]["securitySchemes"]["key"]["in"] == "header"
    assert "parameters" not in op(doc, "GET", "/first")
    assert params(op(doc, "GET", "/second")) == {
        ("query", "key"): {"name": "key", "in": "query", "required": True,
                           "schema": {"type": "string"}},
    }
    # No scheme covers a public method's key: it is an ordinary header.
    assert ("header", "X-API-Key") in params(op(doc, "GET", "/public"))


def test_a_token_mapped_to_another_header_is_documented_as_a_parameter() -> None:
    with API("custom_header") as api:
        jwt = JWTSecurity("jwt")
    with Service("s"), Method("m"):
        Security(jwt)
        with Payload():
            Token("token")
        with HTTP():
            GET("/m")
            Header("token:X-Token")
    doc = checked(api)
    assert ("header", "X-Token") in params(op(doc, "GET", "/m"))


def test_credentials_never_appear_in_the_request_body() -> None:
    with API("body") as api:
        jwt = JWTSecurity("jwt", scopes=SCOPES)
        key = APIKeySecurity("key")
    with Service("s"), Method("m"):
        Security(jwt, key, scopes=["write"])
        with Payload():
            Token("token")
            APIKey("key", "k")
            Attribute("name", String)
            Required("token", "k", "name")
        with HTTP():
            POST("/m")
    doc = checked(api)
    assert body_schema(op(doc, "POST", "/m")) == {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
    }
    assert "parameters" not in op(doc, "POST", "/m")


def test_alternatives_combined_schemes_and_scopes_per_operation() -> None:
    with API("reqs") as api:
        jwt = JWTSecurity("jwt", scopes=SCOPES)
        key = APIKeySecurity("key")
        basic = BasicAuthSecurity("basic")
    with Service("s"), Method("m"):
        Security(jwt, key, scopes=["read", "write"])  # both at once
        Security(basic)  # or this alone
        with Payload():
            Token("token")
            APIKey("key", "k")
            Username("u")
            Password("p")
        with HTTP():
            GET("/m")
            Header("token:X-JWT")  # Basic takes the Authorization header
    doc = checked(api)
    assert op(doc, "GET", "/m")["security"] == [
        {"jwt": ["read", "write"], "key": []},
        {"basic": []},
    ]


def test_api_default_service_override_and_public_methods() -> None:
    with API("levels") as api:
        jwt = JWTSecurity("jwt", scopes=SCOPES)
        key = APIKeySecurity("key")
        Security(jwt, scopes=["read"])
    with Service("inherits"):
        with Method("show"):
            with Payload():
                Token("token")
            with HTTP():
                GET("/show")
        with Method("ping"):
            NoSecurity()
            with HTTP():
                GET("/ping")
    with Service("keyed"):
        Security(key)
        with Method("get"):
            with Payload():
                APIKey("key", "k")
            with HTTP():
                GET("/keyed")
    doc = checked(api)
    assert doc["security"] == [{"jwt": ["read"]}]
    assert op(doc, "GET", "/show")["security"] == [{"jwt": ["read"]}]
    ping = op(doc, "GET", "/ping")
    assert ping["security"] == []
    assert "401" not in ping["responses"]
    assert "403" not in ping["responses"]
    assert op(doc, "GET", "/keyed")["security"] == [{"key": []}]
    assert "401" in op(doc, "GET", "/keyed")["responses"]


def test_public_operations_omit_security_when_there_is_no_default() -> None:
    with API("nodefault") as api:
        key = APIKeySecurity("key")
    with Service("s"):
        with Method("open"), HTTP():
            GET("/open")
        with Method("closed"):
            Security(key)
            with Payload():
                APIKey("key", "k")
            with HTTP():
                GET("/closed")
    doc = checked(api)
    assert "security" not in doc
    assert "security" not in op(doc, "GET", "/open")
    assert op(doc, "GET", "/closed")["security"] == [{"key": []}]


def test_schemes_referenced_by_name_resolve() -> None:
    with API("byname") as api:
        BasicAuthSecurity("basic")
    with Service("s"), Method("m"):
        Security("basic")
        with Payload():
            Username("u")
            Password("p")
        with HTTP():
            GET("/m")
    doc = checked(api)
    assert doc["components"]["securitySchemes"] == {"basic": {"type": "http", "scheme": "basic"}}
    assert op(doc, "GET", "/m")["security"] == [{"basic": []}]
