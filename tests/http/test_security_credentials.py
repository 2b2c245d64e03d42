"""Where a request's credentials are read from, end to end over HTTP.

The default places (Basic and bearer tokens from `Authorization`, API keys from
`X-API-Key`), the places a design maps them to (query, cookie, another header), what an
`Authorization` value that carries no credential of the method's kind is worth, and
requests that give one credential twice (a 400 naming it, before any handler runs).
"""

from __future__ import annotations

import base64
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
    Attribute,
    JWTSecurity,
    Method,
    Payload,
    Required,
    Security,
    Service,
    String,
    Token,
)
from bastion.security import Principal
from bastion.security.testing import TokenFactory
from bastion.testing import TestClient
from tests.support.credentials import basic, bearer, key_header
from tests.support.errors import assert_error
from tests.support.secured import (
    ALICE_PASSWORD,
    APIKEY_CHALLENGE,
    BASIC_CHALLENGE,
    CAROL_PASSWORD,
    KEY_ACME_NEW,
    KEY_GLOBEX,
    KEY_UNKNOWN,
    SecuredApp,
    assert_who,
    jwt_app,
    serve,
    who,
    who_result,
)

# ---------------------------------------------------------------------------- credential locations


async def test_api_key_from_the_default_x_api_key_header(levels_client: TestClient) -> None:
    assert_who(await levels_client.get("/where/default-header", headers=key_header(KEY_ACME_NEW)),
               "acme", ["api_key"])


async def test_api_key_from_a_query_parameter(levels_client: TestClient) -> None:
    r = await levels_client.get("/where/query", params={"api_key": KEY_ACME_NEW})
    assert_who(r, "acme", ["api_key"])
    # Mapped to the query, the key is not read from the default header.
    r = await levels_client.get("/where/query", headers=key_header(KEY_ACME_NEW))
    assert_error(r, 401, "unauthorized", "missing credential for api_key")


async def test_api_key_from_a_cookie(levels_client: TestClient) -> None:
    r = await levels_client.get("/where/cookie",
                                headers={"Cookie": f"theme=dark; session={KEY_GLOBEX}"})
    assert_who(r, "globex", ["api_key"])
    r = await levels_client.get("/where/cookie", headers={"Cookie": f"key={KEY_GLOBEX}"})
    assert_error(r, 401, "unauthorized", "missing credential for api_key")


async def test_api_key_from_a_custom_header(levels_client: TestClient) -> None:
    assert_who(await levels_client.get("/where/header", headers={"X-Key": KEY_GLOBEX}), "globex",
               ["api_key"])
    r = await levels_client.get("/where/header", headers=key_header(KEY_GLOBEX))
    assert_error(r, 401, "unauthorized", "missing credential for api_key")


async def test_a_bad_api_key_in_any_location_is_a_401(levels_client: TestClient) -> None:
    for r in (
        await levels_client.get("/where/default-header", headers=key_header(KEY_UNKNOWN)),
        await levels_client.get("/where/query", params={"api_key": KEY_UNKNOWN}),
        await levels_client.get("/where/cookie", headers={"Cookie": f"session={KEY_UNKNOWN}"}),
        await levels_client.get("/where/header", headers={"X-Key": KEY_UNKNOWN}),
    ):
        assert_error(r, 401, "unauthorized", "invalid API key")
        assert r.headers["www-authenticate"] == APIKEY_CHALLENGE


async def test_token_explicitly_mapped_to_authorization_still_strips_bearer(
    levels_client: TestClient, es256: TokenFactory
) -> None:
    token = es256.mint("ann", scopes=["api:read"])
    assert_who(await levels_client.get("/where/authorization",
                                       headers=bearer(token)), "ann", ["jwt"])
    # The scheme word is case-insensitive (RFC 7235).
    r = await levels_client.get("/where/authorization",
                                headers={"Authorization": f"bearer {token}"})
    assert_who(r, "ann", ["jwt"])


async def test_token_from_a_query_parameter(levels_client: TestClient, es256: TokenFactory) -> None:
    token = es256.mint("ann", scopes=["api:read"])
    assert_who(await levels_client.get("/where/jwt-query", params={"access_token": token}), "ann",
               ["jwt"])
    r = await levels_client.get("/where/jwt-query", headers=bearer(token))
    assert_error(r, 401, "unauthorized", "missing credential for jwt")


async def test_token_from_a_cookie(levels_client: TestClient, es256: TokenFactory) -> None:
    token = es256.mint("ann", scopes=["api:read"])
    assert_who(await levels_client.get("/where/jwt-cookie",
                                       headers={"Cookie": f"jwt={token}"}), "ann",
               ["jwt"])
    r = await levels_client.get("/where/jwt-cookie",
                                headers={"Cookie": "jwt=" + token[:-4] + "AAAA"})
    assert_error(r, 401, "unauthorized", "invalid signature")


async def test_basic_password_may_contain_colons(levels_client: TestClient) -> None:
    assert_who(await levels_client.get("/admin/whoami", headers=basic("carol", CAROL_PASSWORD)),
               "carol", ["basic"])


async def test_basic_credentials_from_authorization_must_be_well_formed(
    levels_client: TestClient,
) -> None:
    for value in ("Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode()):
        r = await levels_client.get("/admin/whoami", headers={"Authorization": value})
        assert_error(r, 401, "unauthorized", "missing credential for basic")
        assert r.headers["www-authenticate"] == BASIC_CHALLENGE


async def test_basic_credentials_sent_to_a_bearer_method_are_no_token(
    es256: TokenFactory,
) -> None:
    # RFC 6750 3.1: a request "using an unsupported authentication method" lacks a token:
    # no error code. And the Basic credentials (a password, base64) must not be handed to
    # the JWT handler as if they were a token.
    seen: list[str] = []
    verifier = es256.verifier()

    async def spy(token: str, scheme: bastion.JWTScheme) -> Principal:
        seen.append(token)
        return await verifier(token, scheme)

    served = jwt_app(spy)
    async with TestClient(served.app) as c:
        r = await c.get("/me", headers=basic("alice", ALICE_PASSWORD))
    assert_error(r, 401, "unauthorized", "missing credential for jwt")
    assert r.headers["www-authenticate"] == 'Bearer realm="tokens"'
    assert seen == []


async def test_required_credential_missing_is_a_401_not_a_400(es256: TokenFactory) -> None:
    with API("req") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read"})
        Security(jwt)
    with Service("req"):
        with Method("create"):
            with Payload():
                Token("token", String)
                Attribute("name", String)
                Required("token", "name")
            who_result()
            with HTTP():
                POST("/things")

    class Req:
        jwt_auth = es256.verifier()

        async def create(self, p: Any) -> dict[str, Any]:
            return who()

    served = serve(api, {"req": Req()})
    async with TestClient(served.app) as c:
        r = await c.post("/things", json={"name": "x"})
        assert_error(r, 401, "unauthorized", "missing credential for jwt")
        r = await c.post("/things", json={"name": "x"}, headers=bearer(es256.mint("ann")))
        assert_who(r, "ann", ["jwt"])
        r = await c.post("/things", json={}, headers=bearer(es256.mint("ann")))
        assert_error(r, 400, "bad_request")
        assert [e["field"] for e in r.json()["errors"]] == ["name"]


def two_keys_design() -> APIExpr:
    with API("two") as api:
        partner = APIKeySecurity("partner")
        internal = APIKeySecurity("internal")
    with Service("two"):
        with Method("either"):
            Security(partner)
            Security(internal)
            with Payload():
                APIKey("partner", "partner_key", String)
                APIKey("internal", "internal_key", String)
            who_result()
            with HTTP():
                GET("/either")
    return api


class TwoKeys:
    async def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> Principal:
        # Each scheme has its own key; the handler gets told which scheme is asking.
        if key == {"partner": KEY_ACME_NEW, "internal": KEY_GLOBEX}[scheme.name]:
            return Principal(f"{scheme.name}-client")
        raise bastion.Unauthorized("unknown key")

    async def either(self, p: Any) -> dict[str, Any]:
        return who()


async def test_two_api_key_schemes_with_default_headers_both_get_the_key() -> None:
    # Both APIKey attributes default to the X-API-Key header. Either the design is refused
    # at startup, naming the clash, or both attributes are read from it. Silently reading
    # the header into one attribute only is neither.
    try:
        served = serve(two_keys_design(), {"two": TwoKeys()})
    except bastion.DesignError as exc:
        assert "X-API-Key" in str(exc)
        return
    async with TestClient(served.app) as c:
        assert_who(await c.get("/either", headers=key_header(KEY_ACME_NEW)), "partner-client",
                   ["partner"])
        assert_who(await c.get("/either", headers=key_header(KEY_GLOBEX)), "internal-client",
                   ["internal"])


# ---------------------------------------------------------------------------- ambiguous requests


def _bad_duplicate(r: httpx.Response, wire: str, where: str) -> None:
    assert_error(r, 400, "bad_request")
    body = r.json()
    assert body["field"] == wire
    assert body["errors"] == [{"field": wire, "in": where, "message": "appears more than once"}]
    assert wire in body["message"]


async def test_two_authorization_headers_are_a_400_naming_the_header(
    levels_client: TestClient, es256: TokenFactory, levels: SecuredApp
) -> None:
    # [junk, valid] must not pass on the last one, as a proxy may have checked the first.
    good = f"Bearer {es256.mint('ann', scopes=['api:read'])}"
    for values in (["Bearer junk", good], [good, good], ["Basic x", good]):
        r = await levels_client.get("/docs/read", headers=[("Authorization", v) for v in values])
        _bad_duplicate(r, "Authorization", "header")
    r = await levels_client.get("/admin/whoami", headers=[("Authorization", "Basic a"),
                                                    *basic("alice", ALICE_PASSWORD).items()])
    _bad_duplicate(r, "Authorization", "header")
    assert levels.auth_failures() == []  # refused before any handler ran


async def test_two_api_key_headers_or_credential_cookies_are_a_400_naming_them(
    levels_client: TestClient,
) -> None:
    r = await levels_client.get("/where/default-header",
                         headers=[("X-API-Key", KEY_UNKNOWN), ("X-API-Key", KEY_GLOBEX)])
    _bad_duplicate(r, "X-API-Key", "header")
    r = await levels_client.get("/where/header",
                                headers=[("X-Key", KEY_GLOBEX), ("X-Key", KEY_GLOBEX)])
    _bad_duplicate(r, "X-Key", "header")
    # In one Cookie header, or across two (HTTP/2 splits them): the same.
    r = await levels_client.get("/where/cookie",
                         headers={"Cookie": f"session={KEY_UNKNOWN}; session={KEY_GLOBEX}"})
    _bad_duplicate(r, "session", "cookie")
    split = [("Cookie", f"session={KEY_UNKNOWN}"), ("Cookie", f"theme=dark; session={KEY_GLOBEX}")]
    r = await levels_client.get("/where/cookie", headers=split)
    _bad_duplicate(r, "session", "cookie")
    # Other cookies may repeat, and cookies split over two headers still work.
    r = await levels_client.get("/where/cookie", headers=[("Cookie", "theme=dark; theme=light"),
                                                    ("Cookie", f"session={KEY_GLOBEX}")])
    assert_who(r, "globex", ["api_key"])


async def test_a_credential_header_the_method_does_not_read_may_repeat(
    levels_client: TestClient,
) -> None:
    # The method reads its key from the query: two Authorization headers are not its concern.
    r = await levels_client.get("/where/query", params={"api_key": KEY_ACME_NEW},
                         headers=[("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
    assert_who(r, "acme", ["api_key"])
