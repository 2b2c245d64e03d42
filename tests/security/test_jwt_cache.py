from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt
import pytest
from jwt.algorithms import ECAlgorithm

from bastion.errors import Unauthorized
from bastion.security import JWTScheme, JWTVerifier
from bastion.security.testing import TokenFactory
from tests.security.support import fresh
from tests.support.clock import FakeClock
from tests.support.servers import JWKSServer

SCHEME = JWTScheme("jwt", scopes=("api:read",))


@pytest.fixture(scope="module")
def tokens() -> TokenFactory:
    return TokenFactory("ES256", kid="es-cache", issuer="https://issuer.test", audience="orders")


class Spy:
    """Counts the signature checks and token parses PyJWT is asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.verified = 0
        self.parsed = 0
        self.headers_read = 0
        verify, decode = ECAlgorithm.verify, pyjwt.PyJWS.decode_complete
        header = pyjwt.PyJWS.get_unverified_header

        def counting_verify(alg: Any, *args: Any) -> bool:
            self.verified += 1
            return verify(alg, *args)

        def counting_decode(jws: Any, *args: Any, **kw: Any) -> Any:
            self.parsed += 1
            return decode(jws, *args, **kw)

        def counting_header(jws: Any, *args: Any) -> Any:
            self.headers_read += 1
            return header(jws, *args)

        monkeypatch.setattr(ECAlgorithm, "verify", counting_verify)
        monkeypatch.setattr(pyjwt.PyJWS, "decode_complete", counting_decode)
        monkeypatch.setattr(pyjwt.PyJWS, "get_unverified_header", counting_header)


async def test_a_token_seen_before_is_not_verified_again(
    tokens: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    verifier = tokens.verifier()
    token = tokens.mint("alice", scopes=["api:read"])
    principals = [await verifier(fresh(token), SCHEME) for _ in range(5)]
    assert all(p.subject == "alice" and p.scopes == {"api:read"} for p in principals)
    # Parsed once (the header's alg and kid come from that same parse), verified once.
    assert (spy.parsed, spy.verified, spy.headers_read) == (1, 1, 0)
    assert all(p is principals[0] for p in principals)  # nothing rebuilt per call
    # The claims handed out are read-only, and verify() gives a copy.
    with pytest.raises(TypeError):
        principals[0].claims["sub"] = "mallory"  # type: ignore[index]
    claims = await verifier.verify(token)
    claims["sub"] = "mallory"
    assert (await verifier(token, SCHEME)).subject == "alice"


async def test_a_remembered_token_still_expires_with_the_leeway(
    tokens: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = tokens.verifier(leeway=30)
    token = tokens.mint("alice", expires_in=60)
    assert (await verifier(token, SCHEME)).subject == "alice"
    now = time.time()
    monkeypatch.setattr("bastion.security.jwt.time.time", lambda: now + 80)  # within leeway
    assert (await verifier(token, SCHEME)).subject == "alice"
    monkeypatch.setattr("bastion.security.jwt.time.time", lambda: now + 95)  # past it
    with pytest.raises(Unauthorized) as info:
        await verifier(token, SCHEME)
    assert (info.value.reason, info.value.message) == ("expired", "token expired")


async def test_a_remembered_token_is_refused_before_its_nbf(
    tokens: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock stepping back (NTP) must not make a not-yet-valid token pass from memory.
    verifier = tokens.verifier(leeway=5)
    now = time.time()
    token = tokens.mint("alice", not_before=now)
    assert (await verifier(token, SCHEME)).subject == "alice"
    monkeypatch.setattr("bastion.security.jwt.time.time", lambda: now - 60)
    with pytest.raises(Unauthorized, match="token not yet valid"):
        await verifier(token, SCHEME)
    # The same for a token issued (iat) later than the clock now says.
    monkeypatch.undo()
    issued = tokens.mint("bob", issued_at=now)
    assert (await verifier(issued, SCHEME)).subject == "bob"
    monkeypatch.setattr("bastion.security.jwt.time.time", lambda: now - 60)
    with pytest.raises(Unauthorized, match="token not yet valid"):
        await verifier(issued, SCHEME)


async def test_failures_are_never_remembered(
    tokens: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    verifier = tokens.verifier()
    wrong_audience = tokens.mint("alice", aud="billing")
    for _ in range(3):
        with pytest.raises(Unauthorized, match="invalid audience"):
            await verifier(fresh(wrong_audience), SCHEME)
    assert spy.verified == 3
    impostor = TokenFactory("ES256", kid=tokens.kid, issuer=tokens.issuer,
                            audience=tokens.audience)
    forged = impostor.mint("alice")
    for _ in range(2):
        with pytest.raises(Unauthorized, match="invalid signature"):
            await verifier(forged, SCHEME)
    assert spy.verified == 5


async def test_the_cache_is_bounded_least_recently_used_first(
    tokens: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    verifier = tokens.verifier(cache_size=2)
    a, b, c = (tokens.mint(name) for name in ("a", "b", "c"))
    for token in (a, b, a, c):  # c evicts b, the least recently used
        await verifier(token, SCHEME)
    assert spy.verified == 3
    await verifier(a, SCHEME)
    assert spy.verified == 3
    await verifier(b, SCHEME)
    assert spy.verified == 4
    off = tokens.verifier(cache_size=0)
    for _ in range(2):
        await off(a, SCHEME)
    assert spy.verified == 6


async def test_rotated_keys_invalidate_remembered_tokens(
    jwks_server: JWKSServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = TokenFactory("ES256", kid="old")
    new = TokenFactory("ES256", kid="new")
    jwks_server.doc = old.jwks()
    verifier = JWTVerifier(jwks_url=jwks_server.url, min_refresh_interval=60, clock=clock)
    spy = Spy(monkeypatch)
    token = old.mint("alice")
    assert (await verifier(token, SCHEME)).subject == "alice"
    assert (await verifier(token, SCHEME)).subject == "alice"
    assert spy.verified == 1

    # A key is added: what the old set verified is checked again (and still passes).
    jwks_server.doc = {"keys": [old.jwk(), new.jwk()]}
    assert await verifier.refresh()
    assert (await verifier(token, SCHEME)).subject == "alice"
    assert spy.verified == 2
    # The same set fetched again changes nothing.
    assert await verifier.refresh()
    await verifier(token, SCHEME)
    assert spy.verified == 2

    # The old key is withdrawn: its token is refused at once, remembered or not.
    jwks_server.doc = new.jwks()
    assert await verifier.refresh()
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await verifier(token, SCHEME)


async def test_a_stale_key_set_is_refreshed_on_a_remembered_token_too(
    jwks_server: JWKSServer, clock: FakeClock
) -> None:
    old = TokenFactory("ES256", kid="old")
    jwks_server.doc = old.jwks()
    verifier = JWTVerifier(jwks_url=jwks_server.url, jwks_max_age=600, clock=clock)
    token = old.mint("alice")
    await verifier(token, SCHEME)
    jwks_server.doc = {"keys": []}  # the issuer withdrew every key
    clock.advance(601)
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await verifier(token, SCHEME)
    assert jwks_server.hits == 2
