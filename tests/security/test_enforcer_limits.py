from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec
import pytest

from bastion.security import (
    APIKeyStore,
    AuthenticationError,
    AuthFailure,
    RateLimited,
    RateLimiter,
    RateLimits,
    Requirement,
    Scheme,
    SchemeRef,
    rate_limit_decision,
    rate_limit_headers,
    secure,
    set_client_address,
)
from tests.support.servers import RedisServer

KEY = Scheme("api_key", "apikey")
BASIC = Scheme("basic", "basic")
GOOD = "good-key-0123456789abcdef"
ROTATED = "rotated-key-0123456789abcdef"
OTHER = "other-key-0123456789abcdef"
BAD = "bad-key-0123456789abcdef"


class Payload(msgspec.Struct):
    key: str | None = None
    user: str | None = None
    password: str | None = None


class Counting:
    """An API key handler that counts its calls."""

    def __init__(self) -> None:
        self.store = APIKeyStore()
        self.store.add("acme", GOOD)
        self.store.add("acme", ROTATED)
        self.store.add("globex", OTHER)
        self.calls = 0

    async def __call__(self, key: str, scheme: Scheme) -> Any:
        self.calls += 1
        return await self.store(key, scheme)


async def _ok(payload: Payload) -> str:
    return "ok"


def address(addr: str) -> None:
    # Each test runs in its own task, hence its own context: nothing to reset afterwards.
    set_client_address(addr)


def _keyed(handler: Any, limiter: RateLimiter, limits: RateLimits, **kw: Any) -> Any:
    return secure(
        _ok,
        (Requirement((SchemeRef(KEY, "key"),)),),
        {"apikey": handler},
        method_name="orders.create",
        limiter=limiter,
        limits=limits,
        **kw,
    )


async def test_brute_force_from_one_address_is_locked_out_before_the_handler() -> None:
    handler = Counting()
    failures: list[AuthFailure] = []
    limits = RateLimits(failures_per_client="3/day", failures_per_credential=None)
    ep = _keyed(handler, RateLimiter(), limits, on_failure=failures.append)
    address("198.51.100.9")
    for i in range(3):
        with pytest.raises(AuthenticationError):
            await ep(Payload(key=f"{BAD}{i}"))
    calls = handler.calls
    # Locked out: even a good key is refused, and the handler is not called.
    with pytest.raises(RateLimited) as info:
        await ep(Payload(key=GOOD))
    assert handler.calls == calls
    assert info.value.reason == "locked_out"
    assert not info.value.decision.allowed
    assert "Retry-After" in rate_limit_headers(info.value.decision)
    assert failures[-1].reason == "locked_out" and failures[-1].client == "198.51.100.9"
    assert GOOD not in repr(failures) and BAD not in repr(failures)
    # Another address is not affected.
    address("198.51.100.10")
    assert await ep(Payload(key=GOOD)) == "ok"


async def test_missing_credentials_do_not_count_as_failed_attempts() -> None:
    limits = RateLimits(failures_per_client="2/day", failures_per_credential=None)
    ep = _keyed(Counting(), RateLimiter(), limits)
    address("198.51.100.11")
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            await ep(Payload())
    assert await ep(Payload(key=GOOD)) == "ok"


async def test_expired_credentials_do_not_count_as_guesses() -> None:
    handler = Counting()
    expired = "expired-key-0123456789abcdef"
    handler.store.add("acme", expired, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    limits = RateLimits(failures_per_client="2/day", failures_per_credential="2/day")
    ep = _keyed(handler, RateLimiter(), limits)
    address("198.51.100.12")
    for _ in range(5):
        with pytest.raises(AuthenticationError) as info:
            await ep(Payload(key=expired))
        assert info.value.reason == "expired"
    assert await ep(Payload(key=GOOD)) == "ok"


async def test_guessing_one_username_from_many_addresses_is_locked_out() -> None:
    attempts: list[str] = []

    async def basic_auth(username: str, password: str, scheme: Scheme) -> Any:
        attempts.append(username)
        raise AuthenticationError("invalid username or password")

    limits = RateLimits(failures_per_client=None, failures_per_credential="3/day")
    ep = secure(
        _ok,
        (Requirement((SchemeRef(BASIC, ("user", "password")),)),),
        {"basic": basic_auth},
        method_name="m",
        limiter=RateLimiter(),
        limits=limits,
    )
    for i in range(3):
        address(f"203.0.113.{i}")
        with pytest.raises(AuthenticationError):
            await ep(Payload(user="admin", password=f"guess{i}"))
    address("203.0.113.99")
    with pytest.raises(RateLimited):
        await ep(Payload(user="admin", password="guess-new"))
    assert attempts == ["admin"] * 3
    # Another username is still checked.
    with pytest.raises(AuthenticationError):
        await ep(Payload(user="alice", password="x"))


async def test_requests_per_api_key_are_limited_and_rotated_keys_share_the_budget() -> None:
    failures: list[AuthFailure] = []
    limits = RateLimits(per_scheme={"api_key": "3/day"})
    ep = _keyed(Counting(), RateLimiter(), limits, on_failure=failures.append)
    address("192.0.2.1")
    assert await ep(Payload(key=GOOD)) == "ok"
    decision = rate_limit_decision.get()
    assert decision is not None and decision.remaining == 2
    assert rate_limit_headers(decision)["RateLimit-Remaining"] == "2"
    assert await ep(Payload(key=ROTATED)) == "ok"  # same client "acme"
    assert await ep(Payload(key=GOOD)) == "ok"
    with pytest.raises(RateLimited) as info:
        await ep(Payload(key=ROTATED))
    assert info.value.reason == "rate_limited"
    assert info.value.decision.remaining == 0
    assert failures[-1] == AuthFailure(
        "api_key", "apikey", "orders.create", "192.0.2.1", "rate_limited"
    )
    # Another client has its own budget.
    assert await ep(Payload(key=OTHER)) == "ok"


async def test_per_method_limits_apply_to_secured_and_public_methods() -> None:
    limiter = RateLimiter()
    limits = RateLimits(per_method={"orders.create": "1/day", "orders.ping": "2/day"})
    ep = _keyed(Counting(), limiter, limits)
    assert await ep(Payload(key=GOOD)) == "ok"
    with pytest.raises(RateLimited):
        await ep(Payload(key=GOOD))
    public = secure(_ok, (), {}, method_name="orders.ping", limiter=limiter, limits=limits)
    address("192.0.2.50")
    assert await public(Payload()) == "ok"
    assert await public(Payload()) == "ok"
    with pytest.raises(RateLimited):
        await public(Payload())
    address("192.0.2.51")
    assert await public(Payload()) == "ok"


@pytest.mark.integration
async def test_two_apps_on_one_redis_share_the_lockout(redis: RedisServer) -> None:
    limits = RateLimits(failures_per_client="2/day", failures_per_credential=None)
    async with RateLimiter(redis.url) as a, RateLimiter(redis.url) as b:
        app_a, app_b = _keyed(Counting(), a, limits), _keyed(Counting(), b, limits)
        address("198.51.100.77")
        with pytest.raises(AuthenticationError):
            await app_a(Payload(key=BAD))
        with pytest.raises(AuthenticationError):
            await app_b(Payload(key=BAD))
        with pytest.raises(RateLimited):
            await app_a(Payload(key=GOOD))


@pytest.mark.integration
async def test_redis_down_fails_closed_for_auth_failure_limits_and_open_for_requests(
    redis: RedisServer,
) -> None:
    async with RateLimiter(redis.url, timeout=0.5) as limiter:
        guarded = _keyed(Counting(), limiter, RateLimits(per_scheme={"api_key": "100/day"}))
        requests_only = _keyed(
            Counting(),
            limiter,
            RateLimits(
                per_scheme={"api_key": "100/day"},
                failures_per_client=None,
                failures_per_credential=None,
            ),
        )
        address("192.0.2.200")
        assert await guarded(Payload(key=GOOD)) == "ok"
        redis.stop()
        with anyio.fail_after(20):  # a hang guard, not a speed assertion
            with pytest.raises(RateLimited) as info:
                await guarded(Payload(key=GOOD))
            assert info.value.reason == "unavailable" and info.value.decision.degraded
            assert await requests_only(Payload(key=GOOD)) == "ok"
            decision = rate_limit_decision.get()
            assert decision is not None and decision.degraded
            assert rate_limit_headers(decision) == {}
