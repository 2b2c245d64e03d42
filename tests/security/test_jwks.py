from __future__ import annotations

import anyio
import pytest

from bastion.errors import Unauthorized
from bastion.security import JWTScheme, JWTVerifier
from bastion.security.testing import TokenFactory
from bastion.testing import LogCapture
from tests.support.clock import FakeClock
from tests.support.servers import JWKSServer

SCHEME = JWTScheme("jwt")


@pytest.fixture(scope="module")
def keys() -> dict[str, TokenFactory]:
    return {
        "k1": TokenFactory("RS256", kid="k1"),
        "k2": TokenFactory("ES256", kid="k2"),
        "k3": TokenFactory("EdDSA", kid="k3"),
    }


def _verifier(server: JWKSServer, clock: FakeClock) -> JWTVerifier:
    return JWTVerifier(jwks_url=server.url, min_refresh_interval=60, clock=clock)


async def test_jwks_is_fetched_once_and_cached(
    jwks_server: JWKSServer, clock: FakeClock, keys: dict[str, TokenFactory]
) -> None:
    jwks_server.doc = keys["k1"].jwks()
    v = _verifier(jwks_server, clock)
    for _ in range(5):
        assert (await v(keys["k1"].mint("alice"), SCHEME)).subject == "alice"
    assert jwks_server.hits == 1


async def test_unknown_kid_refetches_once_per_interval_then_accepts_the_rotated_key(
    jwks_server: JWKSServer, clock: FakeClock, keys: dict[str, TokenFactory]
) -> None:
    jwks_server.doc = keys["k1"].jwks()
    v = _verifier(jwks_server, clock)
    await v(keys["k1"].mint(), SCHEME)
    assert jwks_server.hits == 1

    # The issuer rotates k2 in. Within the interval an unknown kid does not refetch.
    jwks_server.doc = {"keys": [keys["k1"].jwk(), keys["k2"].jwk()]}
    clock.advance(10)
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await v(keys["k2"].mint(), SCHEME)
    assert jwks_server.hits == 1

    # Past the interval: exactly one refetch, and k2 is accepted from then on.
    clock.advance(60)
    assert (await v(keys["k2"].mint("bob"), SCHEME)).subject == "bob"
    assert (await v(keys["k2"].mint("bob"), SCHEME)).subject == "bob"
    assert jwks_server.hits == 2

    # A kid the issuer never published: one refetch is spent, the next ones are refused
    # without touching the server until the interval has passed again.
    clock.advance(61)
    for _ in range(5):
        with pytest.raises(Unauthorized, match="unknown signing key"):
            await v(keys["k3"].mint(), SCHEME)
        clock.advance(1)
    assert jwks_server.hits == 3


async def test_concurrent_unknown_kids_share_one_fetch(
    jwks_server: JWKSServer, clock: FakeClock, keys: dict[str, TokenFactory]
) -> None:
    jwks_server.doc = keys["k1"].jwks()
    v = _verifier(jwks_server, clock)
    await v(keys["k1"].mint(), SCHEME)
    jwks_server.doc = {"keys": [keys["k1"].jwk(), keys["k2"].jwk()]}
    clock.advance(61)
    results: list[str] = []

    async def one() -> None:
        results.append((await v(keys["k2"].mint("c"), SCHEME)).subject)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
    assert results == ["c"] * 10
    assert jwks_server.hits == 2


async def test_removed_key_stops_verifying_after_the_cache_expires(
    jwks_server: JWKSServer, clock: FakeClock, keys: dict[str, TokenFactory]
) -> None:
    jwks_server.doc = {"keys": [keys["k1"].jwk(), keys["k2"].jwk()]}
    v = JWTVerifier(jwks_url=jwks_server.url, jwks_max_age=300, clock=clock)
    await v(keys["k1"].mint(), SCHEME)
    jwks_server.doc = keys["k2"].jwks()
    clock.advance(301)
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await v(keys["k1"].mint(), SCHEME)
    assert jwks_server.hits == 2


async def test_jwks_down_gives_401_and_a_log_line_without_the_url_secret(
    jwks_server: JWKSServer,
    clock: FakeClock,
    keys: dict[str, TokenFactory],
    app_logs: LogCapture,
) -> None:
    jwks_server.status = 503
    v = JWTVerifier(jwks_url=jwks_server.url + "?api_key=sekrit", clock=clock)
    for _ in range(3):
        with pytest.raises(Unauthorized, match=r"(no|unknown) signing key"):
            await v(keys["k1"].mint(), SCHEME)
    # Failed fetches are retried, but not on every request.
    assert jwks_server.hits == 1
    assert app_logs.find(msg="JWKS fetch failed") and "sekrit" not in app_logs.text

    jwks_server.status = 200
    jwks_server.doc = keys["k1"].jwks()
    clock.advance(6)
    assert (await v(keys["k1"].mint("back"), SCHEME)).subject == "back"
    assert jwks_server.hits == 2


async def test_published_hmac_secrets_and_encryption_keys_are_ignored(
    jwks_server: JWKSServer,
    clock: FakeClock,
    keys: dict[str, TokenFactory],
    app_logs: LogCapture,
) -> None:
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0NTY3OA"
    jwks_server.doc = {
        "keys": [
            {"kty": "oct", "kid": "h", "k": secret},
            {**keys["k2"].jwk(), "kid": "enc", "use": "enc"},
            keys["k1"].jwk(),
        ]
    }
    v = _verifier(jwks_server, clock)
    assert (await v(keys["k1"].mint("a"), SCHEME)).subject == "a"
    assert app_logs.find(msg="JWKS loaded")["signing_keys"] == 1
    assert secret not in app_logs.text


async def test_refresh_fetches_now(
    jwks_server: JWKSServer, clock: FakeClock, keys: dict[str, TokenFactory]
) -> None:
    jwks_server.doc = keys["k3"].jwks()
    v = _verifier(jwks_server, clock)
    assert await v.refresh() is True
    assert (await v(keys["k3"].mint("z"), SCHEME)).subject == "z"
    assert jwks_server.hits == 1


async def test_an_oversized_jwks_is_refused_and_the_old_keys_kept(
    jwks_server: JWKSServer, clock: FakeClock, keys: dict[str, TokenFactory],
    app_logs: LogCapture,
) -> None:
    from bastion.security.jwt import MAX_JWKS_BYTES

    jwks_server.doc = keys["k1"].jwks()
    v = _verifier(jwks_server, clock)
    good = keys["k1"].mint("alice")
    assert (await v(good, SCHEME)).subject == "alice"
    # The next fetch answers with a key set padded past the cap.
    jwks_server.doc = {**keys["k2"].jwks(), "padding": "x" * (MAX_JWKS_BYTES + 10)}
    clock.advance(3600)
    with pytest.raises(Unauthorized):
        await v(keys["k2"].mint("bob"), SCHEME)
    assert app_logs.find(msg="JWKS fetch failed")
    assert (await v(good, SCHEME)).subject == "alice"  # still trusted: nothing replaced it
