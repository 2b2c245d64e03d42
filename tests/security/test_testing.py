"""`bastion.security.testing.TokenFactory`: real keys, real tokens, read back independently.

The tokens are decoded with PyJWT and the factory's JWK, not with Bastion's verifier, so
these tests hold the helper to what a standard JWT library reads.
"""

from __future__ import annotations

import re
import time

import jwt as pyjwt
import pytest

from bastion.errors import Unauthorized
from bastion.security import JWTScheme
from bastion.security.testing import TokenFactory

SCHEME = JWTScheme("jwt")


@pytest.fixture(scope="module")
def es256() -> TokenFactory:
    return TokenFactory("ES256", kid="es-1", issuer="https://idp.test/", audience="orders")


def test_an_unsupported_algorithm_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="unsupported algorithm 'XS256'"):
        TokenFactory("XS256")


def test_each_factory_gets_its_own_kid_unless_given_one() -> None:
    first, second = TokenFactory("HS256"), TokenFactory("HS256")
    assert re.fullmatch(r"[0-9a-f]{12}", first.kid)
    assert first.kid != second.kid
    assert TokenFactory("HS256", kid="mine").kid == "mine"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES384", "EdDSA"])
def test_the_jwk_is_the_public_key_a_standard_library_verifies_with(alg: str) -> None:
    factory = TokenFactory(alg)
    jwk = factory.jwk()
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (factory.kid, alg, "sig")
    assert "d" not in jwk  # the private part never leaves the factory
    assert factory.jwks() == {"keys": [jwk]}
    key = pyjwt.PyJWK(jwk).key
    claims = pyjwt.decode(factory.mint("ann"), key, algorithms=[alg])
    assert claims["sub"] == "ann"


def test_an_hmac_secret_has_no_public_jwk() -> None:
    with pytest.raises(ValueError, match="no public JWK"):
        TokenFactory("HS256").jwk()


def test_mint_writes_the_registered_claims_scopes_and_headers(es256: TokenFactory) -> None:
    before = int(time.time())
    token = es256.mint("ann", scopes=["api:read", "api:write"], expires_in=600,
                       not_before=before - 5, headers={"typ": "at+jwt"}, tenant="acme")
    header = pyjwt.get_unverified_header(token)
    assert (header["alg"], header["kid"], header["typ"]) == ("ES256", "es-1", "at+jwt")
    claims = pyjwt.decode(token, es256.public_key, algorithms=["ES256"],
                          audience="orders", issuer="https://idp.test/")
    assert claims["sub"] == "ann" and claims["tenant"] == "acme"
    assert claims["scope"] == "api:read api:write"
    assert claims["nbf"] == before - 5
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 600


def test_mint_without_expiry_or_scopes_leaves_those_claims_out() -> None:
    factory = TokenFactory("HS256")
    claims = pyjwt.decode(factory.mint(expires_in=None), factory.public_key,
                          algorithms=["HS256"], options={"require": []})
    assert set(claims) == {"sub", "iat"}
    assert claims["sub"] == "user"


async def test_the_verifier_accepts_the_factorys_tokens_and_takes_overrides(
    es256: TokenFactory,
) -> None:
    token = es256.mint("ann")
    assert (await es256.verifier()(token, SCHEME)).subject == "ann"
    with pytest.raises(Unauthorized, match="invalid audience"):
        await es256.verifier(audience="billing")(token, SCHEME)
