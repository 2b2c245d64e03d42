from __future__ import annotations

import signal

import anyio
import pytest

from bastion.errors import ConfigError
from bastion.http.ratelimit import rate_limit_headers
from bastion.security import RateLimit, RateLimiter
from bastion.security.ratelimit import parse_limit
from bastion.testing import LogCapture
from tests.support.servers import RedisServer

# Day-long windows: a test never straddles a window boundary by accident.
LIMIT = "3/day"


async def test_memory_limit_allows_then_refuses_with_headers() -> None:
    limiter = RateLimiter()
    decisions = [await limiter.hit("client-a", LIMIT) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.limit == 3 and refused.window_seconds == 86400
    assert 0 < refused.reset_after_seconds <= 86400
    headers = rate_limit_headers(refused)
    assert headers["RateLimit-Limit"] == "3"
    assert headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Policy"] == "3;w=86400"
    assert int(headers["Retry-After"]) >= 1
    assert int(headers["RateLimit-Reset"]) >= 1
    assert "Retry-After" not in rate_limit_headers(decisions[0])
    # Another key has its own budget.
    assert (await limiter.hit("client-b", LIMIT)).allowed


async def test_peek_does_not_count() -> None:
    limiter = RateLimiter()
    for _ in range(5):
        assert (await limiter.peek("k", LIMIT)).allowed
    await limiter.hit("k", LIMIT)
    assert (await limiter.peek("k", LIMIT)).remaining == 2


async def test_two_memory_limiters_do_not_share_counts() -> None:
    a, b = RateLimiter(), RateLimiter()
    for _ in range(3):
        await a.hit("k", LIMIT)
    assert not (await a.hit("k", LIMIT)).allowed
    assert (await b.hit("k", LIMIT)).allowed


async def test_clear_forgets_a_key() -> None:
    limiter = RateLimiter(strategy="moving-window")
    for _ in range(3):
        await limiter.hit("k", LIMIT)
    await limiter.clear("k", LIMIT)
    assert (await limiter.hit("k", LIMIT)).allowed


def test_bad_limits_and_storage_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="'lots/often'"):
        RateLimit("lots/often")
    with pytest.raises(ConfigError, match="one limit"):
        RateLimit("1/second;10/minute")
    with pytest.raises(ConfigError, match="expected memory://"):
        RateLimiter("memcached://127.0.0.1:11211")
    with pytest.raises(ConfigError, match="strategy"):
        RateLimiter(strategy="token-bucket")


@pytest.mark.integration
async def test_two_limiters_on_one_redis_share_counts(redis: RedisServer) -> None:
    # A generous timeout: a loaded machine must not turn this test into an outage test.
    async with RateLimiter(redis.url, timeout=5) as a, RateLimiter(redis.url, timeout=5) as b:
        assert (await a.hit("shared", LIMIT)).remaining == 2
        assert (await b.hit("shared", LIMIT)).remaining == 1
        assert (await a.hit("shared", LIMIT)).allowed
        refused = await b.hit("shared", LIMIT)
        assert not refused.allowed and not refused.degraded
        assert "Retry-After" in rate_limit_headers(refused)
        # A different prefix is a different app: its own counts.
        async with RateLimiter(redis.url, key_prefix="other-app") as c:
            assert (await c.hit("shared", LIMIT)).allowed


@pytest.mark.integration
@pytest.mark.parametrize("fail_open", [True, False])
async def test_without_fallback_redis_killed_mid_test_applies_the_fail_mode_without_hanging(
    redis: RedisServer, fail_open: bool, app_logs: LogCapture
) -> None:
    async with (
        RateLimiter(
            redis.url, fallback=False, fail_open=fail_open, timeout=0.5, retry_interval=30
        ) as limiter,
        # The same server behind a URL with a password, which must never reach a log line.
        RateLimiter(
            redis.url.replace("redis://", "redis://:hunter2@"),
            fallback=False,
            timeout=0.5,
            retry_interval=30,
        ) as with_password,
    ):
        assert (await limiter.hit("k", LIMIT)).allowed
        redis.stop()
        with anyio.fail_after(20):  # a hang guard, not a speed assertion
            decisions = [await limiter.hit("k", LIMIT) for _ in range(20)]
            decisions.append(await limiter.peek("k", LIMIT))
            await with_password.hit("k", LIMIT)
        assert all(d.degraded and d.allowed is fail_open for d in decisions)
        assert "RateLimit-Limit" not in rate_limit_headers(decisions[0])
        assert ("Retry-After" in rate_limit_headers(decisions[0])) is not fail_open
        # A limit's own fail mode wins over the limiter's.
        own = await limiter.hit("k", RateLimit(LIMIT, fail_open=not fail_open))
        assert own.degraded and own.allowed is (not fail_open)
        assert not limiter.available
    warnings = [x for x in app_logs.lines if "unavailable" in x["msg"]]
    assert len(warnings) == 2  # once per limiter, not once per call
    assert "hunter2" not in app_logs.text


@pytest.mark.integration
async def test_frozen_redis_is_bounded_by_the_timeout_and_recovery_is_logged(
    redis: RedisServer, app_logs: LogCapture
) -> None:
    async with RateLimiter(
        redis.url, fallback=False, fail_open=False, timeout=0.3, retry_interval=0.2
    ) as rl:
        assert (await rl.hit("k", LIMIT)).allowed
        redis.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers
        try:
            with anyio.fail_after(20):
                frozen = await rl.hit("k", LIMIT)
            assert frozen.degraded and not frozen.allowed
        finally:
            redis.process.send_signal(signal.SIGCONT)
        await anyio.sleep(0.3)  # past retry_interval: the next call probes Redis again
        with anyio.fail_after(20):
            back = await rl.hit("k", LIMIT)
        assert not back.degraded and back.allowed
        assert rl.available
    messages = [x["msg"] for x in app_logs.lines]
    assert sum("unavailable" in m for m in messages) == 1
    assert sum("available again" in m for m in messages) == 1


@pytest.mark.parametrize(
    ("spec", "amount", "window"),
    [
        ("100/minute", 100, 60),
        ("5 per 10 seconds", 5, 10),
        ("10/second", 10, 1),
        ("1000 per hour", 1000, 3600),
        ("3/day", 3, 86_400),
        ("10/5minutes", 10, 300),
        ("2 per 1 month", 2, 30 * 86_400),
        (" 7 PER 2 Hours ", 7, 7200),
    ],
)
def test_limits_read_count_per_window(spec: str, amount: int, window: int) -> None:
    assert parse_limit(spec) == (amount, window)
    limit = RateLimit(spec)
    assert (limit.amount, limit.window) == (amount, window)


@pytest.mark.parametrize(
    "spec", ["", "100", "per minute", "0/minute", "5/0 minutes", "5/fortnight",
             "10/minute, 100/hour", "-1/second", "5 every minute"],
)
def test_anything_else_is_not_a_limit(spec: str) -> None:
    with pytest.raises(ValueError, match="not a rate limit"):
        parse_limit(spec)
    with pytest.raises(ConfigError, match="expected one limit"):
        RateLimit(spec)
