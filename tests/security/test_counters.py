from __future__ import annotations

import pytest

from bastion.security import RateLimit, RateLimiter
from bastion.security._counters import (
    Check,
    MemoryCounter,
    Op,
    Raw,
    Strategy,
    usage,
)
from tests.support.servers import RedisServer

MINUTE = 60_000


def test_sliding_window_counts_a_decaying_share_of_the_last_window() -> None:
    counter = MemoryCounter(Strategy.SLIDING)
    hit = Check("k", 10, MINUTE, Op.HIT)
    t0 = 100 * MINUTE  # the start of a window
    for _ in range(8):
        assert counter.run([hit], t0)[0].allowed
    # A quarter into the next window, 3/4 of the previous 8 still count: 6 of 10 used.
    [raw] = counter.run([Check("k", 10, MINUTE, Op.PEEK)], t0 + MINUTE + MINUTE // 4)
    assert raw == Raw(True, 8, 0)
    u = usage(Strategy.SLIDING, hit, raw, t0 + MINUTE + MINUTE // 4)
    assert (u.used, u.reset_ms) == (6, 3 * MINUTE // 4)


def test_sliding_window_refusal_says_when_the_decay_makes_room() -> None:
    check = Check("k", 10, MINUTE, Op.HIT)
    now = 100 * MINUTE + 3 * MINUTE // 4
    full = usage(Strategy.SLIDING, check, Raw(False, 20, 5), now)
    # prev 20 * (w - e) / w + 5 + 1 <= 10 once prev's share <= 4: e >= w * (1 - 5/20).
    assert not full.allowed and full.used == 10
    assert full.reset_ms == 1  # 3/4 in: just there
    crowded = usage(Strategy.SLIDING, check, Raw(False, 0, 10), now)
    # This window alone is full: past its end its 10 hits weigh 10 * (w - e) / w, under
    # 10 from the first millisecond on.
    assert crowded.reset_ms == MINUTE // 4 + 1


def test_fixed_window_resets_at_the_clock_aligned_window_end() -> None:
    counter = MemoryCounter(Strategy.FIXED)
    hit = Check("k", 2, MINUTE, Op.HIT)
    now = 100 * MINUTE + 10_000
    raws = counter.run([hit, hit, hit], now)
    assert [r.allowed for r in raws] == [True, True, False]
    assert usage(Strategy.FIXED, hit, raws[2], now).reset_ms == 50_000
    assert counter.run([hit], 101 * MINUTE)[0].allowed  # a new window


def test_moving_window_frees_room_when_the_right_hit_expires() -> None:
    counter = MemoryCounter(Strategy.MOVING)
    hit = Check("k", 2, MINUTE, Op.HIT)
    counter.run([hit], 1_000)
    counter.run([hit], 5_000)
    [refused] = counter.run([hit], 10_000)
    assert not refused.allowed
    assert usage(Strategy.MOVING, hit, refused, 10_000).reset_ms == 51_000  # 1s hit + 60s
    assert counter.run([hit], 61_001)[0].allowed  # the first hit left the window


def test_expired_state_is_swept_so_memory_stays_bounded() -> None:
    counter = MemoryCounter(Strategy.SLIDING)
    for i in range(10_000):  # each key's state has lapsed when the next one comes
        counter.run([Check(f"k{i}", 5, 1_000, Op.HIT)], i * 2_000)
    assert len(counter) <= 1024
    counter.run([Check("k9999", 5, 1_000, Op.CLEAR)], 20_000_000)
    assert counter.run([Check("k9999", 5, 1_000, Op.PEEK)], 20_000_000)[0] == Raw(True, 0, 0)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """No URL (counts in this process), or a real redis-server's."""
    if request.param == "memory":
        return None
    redis: RedisServer = request.getfixturevalue("redis")
    return redis.url


@pytest.mark.parametrize("strategy", [s.value for s in Strategy])
async def test_each_strategy_counts_alike_in_memory_and_in_redis(
    store_url: str | None, strategy: str
) -> None:
    async with RateLimiter(store_url, strategy=strategy) as rl:
        decisions = [await rl.hit("k", "3/day") for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0]
        assert all(not d.degraded for d in decisions)
        assert 0 < decisions[-1].reset_after_seconds <= 86400
        assert not (await rl.peek("k", "3/day")).allowed
        await rl.clear("k", "3/day")
        assert (await rl.hit("k", "3/day")).remaining == 2
        # The same key under another limit is another counter.
        assert (await rl.hit("k", "5/day")).remaining == 4


async def test_many_checks_are_answered_in_one_store_call(store_url: str | None) -> None:
    async with RateLimiter(store_url) as rl:
        calls = rl.store_calls
        two, one = RateLimit("2/day"), RateLimit("1/day")
        decisions = await rl.hit_many([("a", two), ("b", one), ("a", two), ("b", one)])
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [1, 0, 0, 0]
        assert rl.store_calls == calls + 1
