"""JWT and OAuth2 access tokens, end to end over HTTP.

For each key family (RSA, EC, Ed25519, HMAC), real tokens signed with real keys: the valid
one reaches the method, each refusal is a 401 `invalid_token` (RFC 6750) with its reason in
the auth-failure line, a missing scope is a 403 naming it; the classic forgeries (`alg:
none`, an RSA public key used as an HMAC secret) are refused; keys rotate in and out
through a JWKS served on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bastion.dsl import (
    API,
    GET,
    HTTP,
    AccessToken,
    APIExpr,
    AuthorizationCodeFlow,
    ClientCredentialsFlow,
    Method,
    OAuth2Security,
    Payload,
    Security,
    Service,
    String,
)
from bastion.security import DEFAULT_ALGORITHMS, JWTVerifier
from bastion.security.testing import TokenFactory
from bastion.testing import TestClient
from tests.support.clock import FakeClock
from tests.support.credentials import bearer
from tests.support.errors import assert_error
from tests.support.secured import AUDIENCE, ISSUER, assert_who, jwt_app, serve, who, who_result
from tests.support.servers import JWKSServer
from tests.support.tokens import b64url, craft, hmac_sha256

ALGORITHMS = ("RS256", "ES256", "EdDSA", "HS256")


@pytest.fixture(scope="module")
def factories() -> dict[str, TokenFactory]:
    return {
        alg: TokenFactory(alg, kid=f"{alg}-1", issuer=ISSUER, audience=AUDIENCE)
        for alg in ALGORITHMS
    }


INVALID = (
    'Bearer realm="tokens", error="invalid_token", '
    'error_description="The access token is invalid"'
)


EXPIRED = (
    'Bearer realm="tokens", error="invalid_token", error_description="The access token expired"'
)


def _case_token(case: str, f: TokenFactory) -> str:
    now = time.time()
    if case == "expired":
        return f.mint("ann", scopes=["api:read"], expires_in=-3600)
    if case == "not_yet_valid":
        return f.mint("ann", scopes=["api:read"], not_before=now + 3600)
    if case == "wrong_issuer":
        return f.mint("ann", scopes=["api:read"], iss="https://evil.example/")
    if case == "wrong_audience":
        return f.mint("ann", scopes=["api:read"], aud="someone-else")
    if case == "bad_signature":
        # Same kid and algorithm, another key: the signature cannot match.
        forger = TokenFactory(f.alg, kid=f.kid, issuer=ISSUER, audience=AUDIENCE)
        return forger.mint("ann", scopes=["api:read"])
    if case == "tampered":
        head, payload, sig = f.mint("ann", scopes=["api:read"]).split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["scope"] = "api:read api:write"
        raw = b64url(json.dumps(claims).encode())
        return f"{head}.{raw}.{sig}"
    if case == "unknown_kid":
        return TokenFactory(f.alg, kid="never-published", issuer=ISSUER,
                            audience=AUDIENCE).mint("ann", scopes=["api:read"])
    raise AssertionError(case)


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_jwt_valid_token_reaches_the_method(
    alg: str, factories: dict[str, TokenFactory]
) -> None:
    f = factories[alg]
    served = jwt_app(f.verifier())
    async with TestClient(served.app) as c:
        r = await c.get("/me", headers=bearer(f.mint(f"user-{alg}", scopes=["api:read"])))
    assert_who(r, f"user-{alg}", ["jwt"])
    assert served.auth_failures() == []


@pytest.mark.parametrize(
    "refusal",
    [
        ("expired", "token expired", EXPIRED, "expired"),
        ("not_yet_valid", "token not yet valid", INVALID, "invalid"),
        ("wrong_issuer", "invalid issuer", INVALID, "invalid"),
        ("wrong_audience", "invalid audience", INVALID, "invalid"),
        ("bad_signature", "invalid signature", INVALID, "invalid"),
        ("tampered", "invalid signature", INVALID, "invalid"),
        ("unknown_kid", "unknown signing key", INVALID, "invalid"),
    ],
    ids=lambda refusal: refusal[0],
)
@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_jwt_refused_token_is_a_401_invalid_token(
    alg: str, refusal: tuple[str, str, str, str], factories: dict[str, TokenFactory]
) -> None:
    case, message, challenge, reason = refusal
    f = factories[alg]
    served = jwt_app(f.verifier())
    async with TestClient(served.app) as c:
        r = await c.get("/me", headers=bearer(_case_token(case, f)))
    assert_error(r, 401, "unauthorized", message)
    assert r.headers["www-authenticate"] == challenge
    [failure] = served.auth_failures()
    assert (failure["scheme"], failure["reason"], failure["service"], failure["method"]) == (
        "jwt", reason, "tokens", "me"
    )


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_jwt_missing_scope_is_a_403_naming_it(
    alg: str, factories: dict[str, TokenFactory]
) -> None:
    f = factories[alg]
    served = jwt_app(f.verifier())
    async with TestClient(served.app) as c:
        r = await c.get("/me", headers=bearer(f.mint("ann", scopes=["api:write"])))
    assert_error(r, 403, "forbidden", "missing scopes: api:read")
    assert r.headers["www-authenticate"] == (
        'Bearer realm="tokens", error="insufficient_scope", scope="api:read"'
    )
    [failure] = served.auth_failures()
    assert failure["reason"] == "insufficient_scope"


# ---------------------------------------------------------------------------- forgeries


def _claims() -> dict[str, Any]:
    return {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300,
            "scope": "api:read api:write"}


def _unsigned(alg: str, kid: str) -> str:
    return craft({"alg": alg, "typ": "JWT", "kid": kid}, _claims())


def _hs256(secret: bytes, kid: str | None) -> str:
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return craft(header, _claims(), hmac_sha256(secret))


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
async def test_jwt_alg_none_is_refused(spelling: str, factories: dict[str, TokenFactory]) -> None:
    f = factories["RS256"]
    served = jwt_app(f.verifier(algorithms=DEFAULT_ALGORITHMS))
    async with TestClient(served.app) as c:
        r = await c.get("/me", headers=bearer(_unsigned(spelling, f.kid)))
    assert_error(r, 401, "unauthorized", "algorithm not allowed")
    assert r.headers["www-authenticate"] == INVALID


async def test_jwt_rs256_key_resigned_as_hs256_with_the_public_key_is_refused(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["RS256"]
    pem = f.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    # The verifier allows HS256 too (the defaults), and is given the RSA key as a PEM.
    served = jwt_app(JWTVerifier(key=pem.decode(), issuer=ISSUER, audience=AUDIENCE))
    async with TestClient(served.app) as c:
        control = await c.get("/me", headers=bearer(f.mint("ann", scopes=["api:read"])))
        assert_who(control, "ann", ["jwt"])
        for forged in (_hs256(pem, f.kid), _hs256(pem, None), _hs256(pem.strip(), None)):
            r = await c.get("/me", headers=bearer(forged))
            assert_error(r, 401, "unauthorized", "algorithm not allowed for this key")
            assert r.headers["www-authenticate"] == INVALID


async def test_jwt_rs256_key_from_a_jwks_resigned_as_hs256_is_refused(
    factories: dict[str, TokenFactory], jwks_server: JWKSServer
) -> None:
    f = factories["RS256"]
    jwks_server.doc = f.jwks()
    verifier = JWTVerifier(jwks_url=jwks_server.url, issuer=ISSUER, audience=AUDIENCE)
    served = jwt_app(verifier)
    jwk_n = f.jwk()["n"].encode()
    pem = f.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    async with TestClient(served.app) as c:
        for secret in (pem, jwk_n, json.dumps(f.jwk()).encode()):
            r = await c.get("/me", headers=bearer(_hs256(secret, f.kid)))
            assert_error(r, 401, "unauthorized", "algorithm not allowed for this key")


# ---------------------------------------------------------------------------- key rotation


async def test_jwt_unknown_kid_is_rotated_in_through_the_jwks(jwks_server: JWKSServer) -> None:
    rsa_ = TokenFactory("RS256", kid="rsa-2024", issuer=ISSUER, audience=AUDIENCE)
    ec_ = TokenFactory("ES256", kid="ec-2025", issuer=ISSUER, audience=AUDIENCE)
    ed_ = TokenFactory("EdDSA", kid="ed-2026", issuer=ISSUER, audience=AUDIENCE)
    clock = FakeClock()
    jwks_server.doc = {"keys": [rsa_.jwk()]}
    verifier = JWTVerifier(jwks_url=jwks_server.url, issuer=ISSUER, audience=AUDIENCE,
                           min_refresh_interval=60, clock=clock)
    served = jwt_app(verifier)
    async with TestClient(served.app) as c:
        assert_who(await c.get("/me", headers=bearer(rsa_.mint("r", scopes=["api:read"]))),
                   "r", ["jwt"])
        assert jwks_server.hits == 1

        # Not published yet: refused, and within the interval the server is not asked again.
        r = await c.get("/me", headers=bearer(ec_.mint("e", scopes=["api:read"])))
        assert_error(r, 401, "unauthorized", "unknown signing key")
        assert r.headers["www-authenticate"] == INVALID
        assert jwks_server.hits == 1

        # The issuer rotates in its EC and Ed25519 keys; past the interval, one refetch.
        jwks_server.doc = {"keys": [rsa_.jwk(), ec_.jwk(), ed_.jwk()]}
        clock.advance(61)
        assert_who(await c.get("/me", headers=bearer(ec_.mint("e", scopes=["api:read"]))),
                   "e", ["jwt"])
        assert_who(await c.get("/me", headers=bearer(ed_.mint("d", scopes=["api:read"]))),
                   "d", ["jwt"])
        assert jwks_server.hits == 2

        # The old key is retired: its tokens stop working at the next refresh.
        jwks_server.doc = {"keys": [ec_.jwk(), ed_.jwk()]}
        clock.advance(3601)
        r = await c.get("/me", headers=bearer(rsa_.mint("r", scopes=["api:read"])))
        assert_error(r, 401, "unauthorized", "unknown signing key")
        assert jwks_server.hits == 3


async def test_jwt_malformed_bearer_values_are_a_401(factories: dict[str, TokenFactory]) -> None:
    served = jwt_app(factories["ES256"].verifier())
    async with TestClient(served.app) as c:
        for value in ("Bearer", "Bearer ", "Bearer a.b", "Bearer " + "x" * 20_000, "Token abc"):
            r = await c.get("/me", headers={"Authorization": value})
            assert r.status_code == 401, value
            assert r.headers["www-authenticate"].startswith('Bearer realm="tokens"')


# ---------------------------------------------------------------------------- OAuth2


def oauth_design() -> APIExpr:
    with API("oauth") as api:
        oauth = OAuth2Security(
            "oauth2",
            flows=[
                AuthorizationCodeFlow("https://idp.test/authorize", "https://idp.test/token"),
                ClientCredentialsFlow("https://idp.test/token"),
            ],
            scopes={"api:read": "Read", "api:write": "Write"},
        )
        Security(oauth, scopes=["api:read"])
    with Service("oauth"):
        with Method("me"):
            with Payload():
                AccessToken("token", String)
            who_result()
            with HTTP():
                GET("/me")
    return api


class OAuth:
    def __init__(self, tokens: TokenFactory) -> None:
        self.oauth2_auth = tokens.verifier()

    def me(self, p: Any) -> dict[str, Any]:
        # A plain def runs in a worker thread: the principal goes with the context.
        return who()


async def test_oauth2_access_token_from_authorization(es256: TokenFactory) -> None:
    served = serve(oauth_design(), {"oauth": OAuth(es256)})
    async with TestClient(served.app) as c:
        assert_who(await c.get("/me", headers=bearer(es256.mint("svc", scopes=["api:read"]))),
                   "svc", ["oauth2"])
        r = await c.get("/me")
        assert_error(r, 401, "unauthorized", "missing credential for oauth2")
        assert r.headers["www-authenticate"] == 'Bearer realm="oauth"'
        r = await c.get("/me", headers=bearer(es256.mint("svc", expires_in=-600)))
        assert_error(r, 401, "unauthorized", "token expired")
        assert r.headers["www-authenticate"] == (
            'Bearer realm="oauth", error="invalid_token", '
            'error_description="The access token expired"'
        )
        r = await c.get("/me", headers=bearer(es256.mint("svc", scopes=["api:write"])))
        assert_error(r, 403, "forbidden", "missing scopes: api:read")
        assert r.headers["www-authenticate"] == (
            'Bearer realm="oauth", error="insufficient_scope", scope="api:read"'
        )
