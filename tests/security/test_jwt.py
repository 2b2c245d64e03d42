from __future__ import annotations

import json
import secrets
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bastion.errors import ConfigError, Unauthorized
from bastion.security import JWTScheme, JWTVerifier, Principal
from bastion.security.testing import TokenFactory
from tests.support.tokens import b64url, craft, hmac_sha256

SCHEME = JWTScheme("jwt", scopes=("api:read", "api:write"))
ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256", "HS512"]


@pytest.fixture(scope="module")
def factories() -> dict[str, TokenFactory]:
    # Key generation (RSA especially) is the slow part: once per module.
    return {alg: TokenFactory(alg, issuer="https://issuer.test", audience="orders") for alg in ALGS}


async def _reject(verifier: JWTVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        await verifier(token, SCHEME)
    exc = info.value
    # Never the token, nor any chained PyJWT error that could quote it.
    assert token not in str(exc) and token not in repr(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__
    return exc


@pytest.mark.parametrize("alg", ALGS)
async def test_valid_token_gives_principal_with_subject_scopes_and_claims(
    factories: dict[str, TokenFactory], alg: str
) -> None:
    f = factories[alg]
    token = f.mint("alice", scopes=["api:read", "api:write"], tenant="acme")
    p = await f.verifier()(token, SCHEME)
    assert isinstance(p, Principal)
    assert p.subject == "alice"
    assert p.scopes == {"api:read", "api:write"}
    assert p.claims["tenant"] == "acme"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA", "HS256"])
async def test_expired_token_is_rejected_as_expired(
    factories: dict[str, TokenFactory], alg: str
) -> None:
    f = factories[alg]
    exc = await _reject(f.verifier(), f.mint(expires_in=-3600))
    assert exc.reason == "expired"
    assert exc.message == "token expired"


async def test_leeway_accepts_a_token_expired_within_it(factories: dict[str, TokenFactory]) -> None:
    f = factories["ES256"]
    token = f.mint(expires_in=-10)
    assert (await f.verifier(leeway=120)(token, SCHEME)).subject == "user"
    await _reject(f.verifier(leeway=0), token)


async def test_token_not_yet_valid_by_nbf_or_iat_is_rejected(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["ES256"]
    later = time.time() + 3600
    exc = await _reject(f.verifier(), f.mint(not_before=later))
    assert exc.message == "token not yet valid"
    exc = await _reject(f.verifier(), f.mint(issued_at=later))
    assert exc.message == "token not yet valid"


async def test_wrong_issuer_and_wrong_audience_are_rejected(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["RS256"]
    exc = await _reject(f.verifier(), f.mint(iss="https://evil.test"))
    assert exc.message == "invalid issuer"
    exc = await _reject(f.verifier(), f.mint(aud="billing"))
    assert exc.message == "invalid audience"


async def test_required_claim_missing_is_named(factories: dict[str, TokenFactory]) -> None:
    f = factories["ES256"]
    exc = await _reject(f.verifier(), f.mint(expires_in=None))
    assert exc.message == "missing claim: exp"
    exc = await _reject(f.verifier(required_claims=("exp", "tenant")), f.mint())
    assert exc.message == "missing claim: tenant"


async def test_bad_signature_is_rejected(factories: dict[str, TokenFactory]) -> None:
    f = factories["RS256"]
    # Same kid and algorithm, another key: the signature does not verify.
    impostor = TokenFactory("RS256", kid=f.kid, issuer=f.issuer, audience=f.audience)
    exc = await _reject(f.verifier(), impostor.mint())
    assert exc.message == "invalid signature"
    # A payload changed after signing.
    head, _, sig = f.mint("alice").split(".")
    forged = b64url(
        json.dumps(
            {"sub": "root", "exp": int(time.time()) + 60, "iss": f.issuer, "aud": f.audience}
        ).encode()
    )
    exc = await _reject(f.verifier(), f"{head}.{forged}.{sig}")
    assert exc.message == "invalid signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_always_rejected(factories: dict[str, TokenFactory], alg: str) -> None:
    f = factories["HS256"]
    token = craft(
        {"alg": alg, "typ": "JWT", "kid": f.kid},
        {"sub": "root", "exp": int(time.time()) + 60, "iss": f.issuer, "aud": f.audience},
    )
    exc = await _reject(f.verifier(algorithms=["HS256", "RS256"]), token)
    assert exc.message == "algorithm not allowed"


def test_alg_none_cannot_even_be_configured() -> None:
    with pytest.raises(ConfigError, match="'none' is not supported"):
        JWTVerifier(key=secrets.token_bytes(32), algorithms=["none"])


async def test_rs256_key_resigned_as_hs256_with_the_public_key_is_rejected(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["RS256"]
    pem = f.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": "root", "exp": int(time.time()) + 60, "iss": f.issuer, "aud": f.audience}
    # The classic confusion: HMAC "secret" = the public key bytes anyone can fetch.
    for material in (pem, pem.strip()):
        token = craft(
            {"alg": "HS256", "typ": "JWT", "kid": f.kid},
            claims,
            hmac_sha256(material),
        )
        # Even with HS256 allowed and the key given as a PEM string, the RSA key is bound
        # to the RSA family.
        for verifier in (
            JWTVerifier(
                keys={f.kid: pem.decode()},
                algorithms=["RS256", "HS256"],
                issuer=f.issuer,
                audience=f.audience,
            ),
            JWTVerifier(
                key=pem, algorithms=["RS256", "HS256"], issuer=f.issuer, audience=f.audience
            ),
        ):
            exc = await _reject(verifier, token)
            assert exc.message == "algorithm not allowed for this key"
    # A genuine RS256 token is still accepted by the same verifier.
    ok = JWTVerifier(key=pem, algorithms=["RS256", "HS256"], issuer=f.issuer, audience=f.audience)
    assert (await ok(f.mint("alice"), SCHEME)).subject == "alice"


async def test_hmac_and_rsa_keys_side_by_side_stay_in_their_families(
    factories: dict[str, TokenFactory],
) -> None:
    rs, hs = factories["RS256"], factories["HS256"]
    verifier = JWTVerifier(
        keys={rs.kid: rs.public_key, hs.kid: hs.public_key},
        algorithms=["RS256", "HS256"],
        issuer=rs.issuer,
        audience=rs.audience,
    )
    assert (await verifier(rs.mint("a"), SCHEME)).subject == "a"
    assert (await verifier(hs.mint("b"), SCHEME)).subject == "b"
    claims = {"sub": "root", "exp": int(time.time()) + 60, "iss": rs.issuer, "aud": rs.audience}
    # Header names the RSA key's kid but HS256: refused before any HMAC is computed.
    token = craft(
        {"alg": "HS256", "kid": rs.kid},
        claims,
        hmac_sha256(hs.public_key),
    )
    assert (await _reject(verifier, token)).message == "algorithm not allowed for this key"


async def test_algorithm_outside_the_allowed_list_is_rejected(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["PS256"]
    exc = await _reject(f.verifier(algorithms=["RS256"]), f.mint())
    assert exc.message == "algorithm not allowed"


async def test_scopes_come_from_scope_string_and_scp_list_or_string(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["ES256"]
    v = f.verifier()
    assert (await v(f.mint(scope="a b  c"), SCHEME)).scopes == {"a", "b", "c"}
    assert (await v(f.mint(scp=["x", "y"]), SCHEME)).scopes == {"x", "y"}
    assert (await v(f.mint(scp="x y"), SCHEME)).scopes == {"x", "y"}
    assert (await v(f.mint(scopes=["z"]), SCHEME)).scopes == {"z"}
    assert (await v(f.mint(scp={"not": "scopes"}), SCHEME)).scopes == frozenset()


async def test_unknown_kid_with_static_keys_is_rejected(factories: dict[str, TokenFactory]) -> None:
    f = factories["ES256"]
    exc = await _reject(f.verifier(), f.mint(headers={"kid": "other"}))
    assert exc.message == "unknown signing key"


async def test_single_key_without_kid_verifies_tokens_with_or_without_kid(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["EdDSA"]
    v = JWTVerifier(key=f.public_key, algorithms=["EdDSA"], issuer=f.issuer, audience=f.audience)
    assert (await v(f.mint("a"), SCHEME)).subject == "a"
    no_kid = pyjwt.encode(
        {"sub": "b", "exp": int(time.time()) + 60, "iss": f.issuer, "aud": f.audience},
        f.private_key,
        algorithm="EdDSA",
    )
    assert (await v(no_kid, SCHEME)).subject == "b"


async def test_keys_given_as_pem_private_key_or_jwk_work(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["ES384"]
    private_pem = f.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for key in (private_pem, f.jwk()):
        v = JWTVerifier(keys={f.kid: key}, issuer=f.issuer, audience=f.audience)
        assert (await v(f.mint("a"), SCHEME)).subject == "a"
    v = JWTVerifier(jwks=f.jwks(), issuer=f.issuer, audience=f.audience)
    assert (await v(f.mint("b"), SCHEME)).subject == "b"


async def test_bearer_prefix_is_accepted_and_garbage_is_malformed(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["ES256"]
    assert (await f.verifier()("Bearer " + f.mint("a"), SCHEME)).subject == "a"
    exc = await _reject(f.verifier(), "not-a-jwt")
    assert exc.message == "malformed token"
    with pytest.raises(Unauthorized) as info:
        await f.verifier()("", SCHEME)
    assert info.value.reason == "missing"


async def test_failures_are_unauthorized_for_code_catching_the_base_error(
    factories: dict[str, TokenFactory],
) -> None:
    f = factories["ES256"]
    with pytest.raises(Unauthorized):
        await f.verifier()(f.mint(expires_in=-3600), SCHEME)


def test_configuration_problems_are_listed_together() -> None:
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError) as info:
        JWTVerifier(
            keys={"short": b"too-short", "rsa": small_rsa.public_key()},
            jwks_url="http://idp.example.com/jwks.json",
        )
    text = str(info.value)
    assert "at least 32 bytes" in text
    assert "at least 2048 bits" in text
    assert "must use https://" in text
    assert "too-short" not in text  # the secret itself is never echoed
    with pytest.raises(ConfigError, match="give key="):
        JWTVerifier()
