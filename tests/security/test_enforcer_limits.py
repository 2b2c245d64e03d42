from __future__ import annotations

from typing import Any

import anyio
import msgspec
import pytest

from bastion.errors import Unauthorized
from bastion.http.ratelimit import rate_limit_headers
from bastion.security import (
    APIKeyScheme,
    APIKeyStore,
    AuthFailure,
    BasicScheme,
    RateLimited,
    RateLimiter,
    RateLimits,
    Requirement,
    Scheme,
    SchemeRef,
    rate_limit_decision,
    secure,
    set_client_address,
)
from bastion.testing import LogCapture
from tests.security.support import fresh
from tests.support.servers import RedisMonitor, RedisServer

KEY = APIKeyScheme("api_key")
BASIC = BasicScheme("basic")
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
        with pytest.raises(Unauthorized):
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
        with pytest.raises(Unauthorized):
            await ep(Payload())
    assert await ep(Payload(key=GOOD)) == "ok"


async def test_guessing_one_username_from_many_addresses_is_locked_out() -> None:
    attempts: list[str] = []

    async def basic_auth(username: str, password: str, scheme: Scheme) -> Any:
        attempts.append(username)
        raise Unauthorized("invalid username or password")

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
        with pytest.raises(Unauthorized):
            await ep(Payload(user="admin", password=f"guess{i}"))
    address("203.0.113.99")
    with pytest.raises(RateLimited):
        await ep(Payload(user="admin", password="guess-new"))
    assert attempts == ["admin"] * 3
    # Another username is still checked.
    with pytest.raises(Unauthorized):
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


@pytest.mark.integration
async def test_without_fallback_redis_down_fails_closed_for_lockouts_and_open_for_requests(
    redis: RedisServer,
) -> None:
    async with RateLimiter(redis.url, fallback=False, timeout=0.5) as limiter:
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


# ---------------------------------------------------------------------------- the hot path


async def test_a_successful_call_costs_no_storage_operation_for_the_lockout() -> None:
    limiter = RateLimiter()
    ep = _keyed(Counting(), limiter, RateLimits())  # both lockouts on, no request limit
    address("192.0.2.70")
    for _ in range(5):
        assert await ep(Payload(key=fresh(GOOD))) == "ok"
    assert limiter.store_calls == 0
    # A rejected key is counted (one call, for the client and the key together) ...
    with pytest.raises(Unauthorized):
        await ep(Payload(key=BAD))
    assert limiter.store_calls == 1
    # ... and from then on this client's calls ask the store, whatever key they carry.
    assert await ep(Payload(key=fresh(GOOD))) == "ok"
    assert limiter.store_calls == 2
    # Another client with another key has no failures: free again.
    address("192.0.2.71")
    assert await ep(Payload(key=fresh(OTHER))) == "ok"
    assert limiter.store_calls == 2


async def test_request_limits_of_one_call_cost_one_storage_call() -> None:
    limiter = RateLimiter()
    limits = RateLimits(per_scheme={"api_key": "100/day"},
                        per_method={"orders.create": "100/day"})
    ep = _keyed(Counting(), limiter, limits)
    address("192.0.2.72")
    for _ in range(3):
        assert await ep(Payload(key=fresh(GOOD))) == "ok"
    assert limiter.store_calls == 3
    decision = rate_limit_decision.get()
    assert decision is not None and decision.remaining == 97


async def test_parallel_guesses_on_clean_keys_are_still_counted_before_verification() -> None:
    # Nothing has failed yet, so nothing is asked of the store: the attempts in flight
    # are what stop a burst of guesses from all reaching the password check.
    checked = 0
    release = anyio.Event()

    async def basic_auth(username: str, password: str, scheme: Scheme) -> Any:
        nonlocal checked
        checked += 1
        await release.wait()
        raise Unauthorized("invalid username or password")

    limiter = RateLimiter()
    ep = secure(
        _ok,
        (Requirement((SchemeRef(BASIC, ("user", "password")),)),),
        {"basic": basic_auth},
        method_name="login",
        limiter=limiter,
        limits=RateLimits(failures_per_client=None, failures_per_credential="3/day"),
    )
    refused: list[str] = []

    async def guess(i: int) -> None:
        try:
            await ep(Payload(user="admin", password=f"guess-{i}"))
        except RateLimited as exc:
            refused.append(exc.reason)
        except Unauthorized:
            refused.append("checked")

    with anyio.fail_after(10):  # a hang guard
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(guess, i)
            await anyio.wait_all_tasks_blocked()
            assert checked == 3
            release.set()
    assert sorted(refused) == ["checked"] * 3 + ["locked_out"] * 17
    assert limiter.store_calls == 3  # the three failures counted; no lockout peeks
    assert limiter.failures.pending == {}


async def test_the_credential_is_hashed_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    digests: list[bytes] = []
    real = hashlib.sha256

    def counting(data: bytes = b"", **kw: Any) -> Any:
        digests.append(bytes(data))
        return real(data, **kw)

    store = APIKeyStore()
    store.add("acme", GOOD)
    ep = _keyed(store, RateLimiter(), RateLimits(per_scheme={"api_key": "100/day"}))
    address("192.0.2.73")
    monkeypatch.setattr(hashlib, "sha256", counting)
    for _ in range(3):
        assert await ep(Payload(key=fresh(GOOD))) == "ok"
    monkeypatch.undo()
    # The lockout key and the store's lookup share one digest per call.
    assert digests.count(GOOD.encode()) == 3

    # A token: the lockout key and the verifier's cache share one digest too.
    from bastion.security import JWTScheme
    from bastion.security.testing import TokenFactory

    tokens = TokenFactory("ES256")
    token = tokens.mint("alice")
    jwt_ep = secure(_ok, (Requirement((SchemeRef(JWTScheme("jwt"), "key"),)),),
                    {"jwt": tokens.verifier()}, method_name="m", limiter=RateLimiter(),
                    limits=RateLimits())
    digests.clear()
    monkeypatch.setattr(hashlib, "sha256", counting)
    for _ in range(3):
        assert await jwt_ep(Payload(key=fresh(token))) == "ok"
    monkeypatch.undo()
    assert digests.count(token.encode()) == 3


async def test_the_principal_of_an_api_key_is_built_once() -> None:
    store = APIKeyStore()
    store.add("acme", GOOD, scopes=["api:read"])
    first = await store(fresh(GOOD), KEY)
    assert await store(fresh(GOOD), KEY) is first
    store.add("acme", GOOD, scopes=["api:write"])  # a change builds a new one
    changed = await store(fresh(GOOD), KEY)
    assert changed is not first and changed.scopes == {"api:write"}


# ---------------------------------------------------------------------------- Redis: one round trip


async def _following(*limiters: RateLimiter) -> None:
    with anyio.fail_after(10):  # a hang guard: the feed is followed within a poll
        while not all(rl.failures.known for rl in limiters):
            await anyio.sleep(0.01)


@pytest.mark.integration
async def test_with_redis_a_call_costs_no_command_for_the_lockout_and_one_for_its_limits(
    redis: RedisServer,
) -> None:
    limits = RateLimits(per_scheme={"api_key": "100/day"},
                        per_method={"orders.create": "100/day"})
    monitor = RedisMonitor(redis)
    try:
        async with RateLimiter(redis.url, timeout=5) as limiter:
            await _following(limiter)
            limited = _keyed(Counting(), limiter, limits)
            lockout_only = _keyed(Counting(), limiter, RateLimits())
            address("192.0.2.80")
            assert await limited(Payload(key=GOOD)) == "ok"  # loads the script once
            monitor.commands()
            for _ in range(10):
                assert await limited(Payload(key=fresh(GOOD))) == "ok"
            # All the limits of a call (per key and per method): one EVALSHA each. The
            # lockout: nothing, as nothing failed.
            assert monitor.commands() == ["evalsha"] * 10
            for _ in range(10):
                assert await lockout_only(Payload(key=fresh(GOOD))) == "ok"
            assert monitor.commands() == []
            # A rejected key: one script call counts it under the client and the key (and
            # announces both); the client's next call peeks once, then its limits once.
            with pytest.raises(Unauthorized):
                await limited(Payload(key=BAD))
            assert monitor.commands() == ["evalsha"]
            assert await limited(Payload(key=fresh(GOOD))) == "ok"
            assert monitor.commands() == ["evalsha", "evalsha"]
    finally:
        monitor.close()


@pytest.mark.integration
async def test_failures_counted_by_another_app_lock_this_one_out_through_the_feed(
    redis: RedisServer,
) -> None:
    limits = RateLimits(failures_per_client="2/day", failures_per_credential=None)
    async with RateLimiter(redis.url, timeout=5) as a, RateLimiter(redis.url, timeout=5) as b:
        await _following(a, b)
        guessed, other = Counting(), Counting()
        app_a, app_b = _keyed(guessed, a, limits), _keyed(other, b, limits)
        address("198.51.100.78")
        for _ in range(2):
            with pytest.raises(Unauthorized):
                await app_a(Payload(key=BAD))
        # B never counted a failure itself: the feed tells it which keys to check.
        with anyio.fail_after(10):
            while b.failures.clean("authfail:client:198.51.100.78", _now()):
                await anyio.sleep(0.01)
        with pytest.raises(RateLimited) as info:
            await app_b(Payload(key=GOOD))
        assert info.value.reason == "locked_out" and other.calls == 0
        # An App that starts later reads the recent failures before trusting its record.
        async with RateLimiter(redis.url, timeout=5) as c:
            await _following(c)
            with pytest.raises(RateLimited):
                await _keyed(Counting(), c, limits)(Payload(key=GOOD))
        # Another client is not affected anywhere.
        address("198.51.100.79")
        assert await app_b(Payload(key=GOOD)) == "ok"


def _now() -> float:
    import time

    return time.monotonic()


@pytest.mark.integration
async def test_redis_killed_and_restarted_the_fallback_counts_here_then_shared_counts_resume(
    redis: RedisServer, app_logs: LogCapture
) -> None:

    fallback: list[int] = []
    limits = RateLimits(per_method={"orders.create": "100/day"},
                        failures_per_client="2/day", failures_per_credential=None)
    async with RateLimiter(redis.url, retry_interval=0.2, on_fallback=fallback.append) as rl:
        ep = _keyed(Counting(), rl, limits)
        address("198.51.100.90")
        assert await ep(Payload(key=GOOD)) == "ok"
        redis.stop()
        with anyio.fail_after(20):  # a hang guard, not a speed assertion
            # Valid credentials pass, counted here; the limit holds per instance.
            assert await ep(Payload(key=GOOD)) == "ok"
            decision = rate_limit_decision.get()
            assert decision is not None and decision.degraded and not decision.fail_mode
            assert decision.remaining == 99  # this process's count: the first local call
            for _ in range(2):
                with pytest.raises(Unauthorized):
                    await ep(Payload(key=BAD))
            # Brute force stays bounded: the client is locked out here.
            with pytest.raises(RateLimited) as info:
                await ep(Payload(key=GOOD))
            assert info.value.reason == "locked_out"
            assert not rl.available and sum(fallback) >= 4
            redis.restart()
            address("198.51.100.91")
            while True:  # the limiter asks Redis again every retry_interval
                assert await ep(Payload(key=GOOD)) == "ok"
                decision = rate_limit_decision.get()
                assert decision is not None
                if not decision.degraded:
                    break
                await anyio.sleep(0.05)
        assert rl.available and decision.remaining == 99  # shared counts, a fresh Redis
    messages = [x["msg"] for x in app_logs.lines]
    assert sum("is unavailable" in m and "counting in this process" in m for m in messages) == 1
    assert sum("available again" in m for m in messages) == 1
