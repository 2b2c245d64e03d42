"""The adaptive sampler keeps at most N root traces per second; parent-based children follow."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Decision
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from bastion.otel._sampler import AdaptiveSampler, ParentBasedSampler
from tests.support.clock import FakeClock


def simulate(
    sampler: AdaptiveSampler,
    clock: FakeClock,
    rate: float,
    seconds: int,
    *,
    seed: int = 7,
    poisson: bool = False,
) -> dict[int, list[float]]:
    """Send roots at `rate` per second (evenly spaced, or Poisson arrivals) for `seconds`.

    Returns, per second from the start, the offsets within that second of the kept roots.
    """
    rng = random.Random(seed)
    kept: dict[int, list[float]] = {second: [] for second in range(seconds)}
    start = clock.now
    t = rng.expovariate(rate) if poisson else 0.0
    while t < seconds:
        clock.now = start + t
        result = sampler.should_sample(None, rng.getrandbits(128), "GET")
        if result.decision is Decision.RECORD_AND_SAMPLE:
            kept[int(t)].append(t - int(t))
        t += rng.expovariate(rate) if poisson else 1.0 / rate
    clock.now = start + seconds
    return kept


def per_second(kept: dict[int, list[float]], since: int = 0) -> float:
    seconds = [len(v) for second, v in kept.items() if second >= since]
    return sum(seconds) / len(seconds)


def test_every_trace_is_kept_below_the_rate() -> None:
    for rate in (1, 2):
        clock = FakeClock()
        sampler = AdaptiveSampler(2, clock=clock, seed=1)
        kept = simulate(sampler, clock, rate=rate, seconds=15)
        assert all(len(v) == rate for v in kept.values())


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("poisson", [False, True])
def test_steady_load_keeps_the_target_rate_within_5_percent(seed: int, poisson: bool) -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(2, clock=clock, seed=seed)
    kept = simulate(sampler, clock, rate=1000, seconds=62, seed=seed, poisson=poisson)
    average = per_second(kept, since=2)
    assert abs(average - 2) <= 0.1, average
    # Spread over each second, not bunched at its start, and never a flood.
    offsets = [o for second, v in kept.items() if second >= 2 for o in v]
    assert min(offsets) < 0.25
    assert max(offsets) > 0.75
    assert max(len(v) for second, v in kept.items() if second >= 1) <= 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_drop_in_traffic_is_recovered_within_2_seconds(seed: int) -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(2, clock=clock, seed=seed)
    simulate(sampler, clock, rate=1000, seconds=20, seed=seed)
    after = simulate(sampler, clock, rate=5, seconds=14, seed=seed + 10)
    first = min(second + o for second, v in after.items() for o in v)
    assert first <= 2.0
    # From 2 s after the drop on, the target rate again.
    assert abs(per_second(after, since=2) - 2) <= 0.1


def test_a_burst_is_bounded_in_its_first_second() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(3, clock=clock, seed=4)
    quiet = simulate(sampler, clock, rate=1, seconds=12)
    assert all(len(v) == 1 for v in quiet.values())
    burst = simulate(sampler, clock, rate=2000, seconds=5)
    # The bucket lets 2N through at once, then N per second: at most 3N in the first second.
    assert len(burst[0]) <= 9
    assert all(len(v) <= 6 for second, v in burst.items() if second >= 1)
    assert abs(per_second(burst, since=1) - 3) <= 0.5


def test_fractional_rates_are_kept_on_average() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(0.5, clock=clock, seed=5)
    kept = simulate(sampler, clock, rate=100, seconds=60)
    assert abs(per_second(kept, since=2) - 0.5) <= 0.05


def test_idle_gap_is_forgotten() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(2, clock=clock, seed=6)
    simulate(sampler, clock, rate=1000, seconds=12)
    clock.now += 3600  # an hour of silence
    kept = simulate(sampler, clock, rate=2, seconds=3)
    assert [len(v) for v in kept.values()] == [2, 2, 2]


def _parent(sampled: bool, state: TraceState | None = None) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    context = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags, trace_state=state)
    return set_span_in_context(NonRecordingSpan(context))


def test_parent_based_children_follow_their_parent_not_the_budget() -> None:
    clock = FakeClock()
    root = AdaptiveSampler(1, clock=clock, seed=1)
    sampler = ParentBasedSampler(root)
    # Spend the root budget: a burst of roots empties the token bucket.
    decisions = [sampler.should_sample(None, i, "GET").decision for i in range(1, 20)]
    assert decisions[0] is Decision.RECORD_AND_SAMPLE
    assert decisions[-1] is Decision.DROP

    state = TraceState([("vendor", "x")])
    for _ in range(10):
        result = sampler.should_sample(_parent(True, state), 0xABC, "child")
        assert result.decision is Decision.RECORD_AND_SAMPLE
        assert result.trace_state == state
        assert sampler.should_sample(_parent(False), 0xABC, "child").decision is Decision.DROP


def test_parent_based_with_a_constant_root() -> None:
    sampler = ParentBasedSampler(ALWAYS_OFF)
    assert sampler.should_sample(None, 5, "GET").decision is Decision.DROP
    assert sampler.should_sample(_parent(True), 5, "GET").decision is Decision.RECORD_AND_SAMPLE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_per_second": 0},
        {"max_per_second": -1},
        {"sample_size": 0},
        {"sample_size": 2.5},
        {"max_interval": 0},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="AdaptiveSampler"):
        AdaptiveSampler(**kwargs)


def test_description_names_the_ceiling() -> None:
    assert AdaptiveSampler(2).get_description() == "AdaptiveSampler{2/s}"
    parent_based = ParentBasedSampler(AdaptiveSampler(2))
    assert "AdaptiveSampler{2/s}" in parent_based.get_description()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    "sampler",
    [AdaptiveSampler(2), ParentBasedSampler(AdaptiveSampler(2)), ParentBasedSampler(ALWAYS_ON)],
)
def test_sampled_results_carry_the_start_attributes(sampler: AdaptiveSampler) -> None:
    result = sampler.should_sample(None, 7, "GET", attributes={"url.full": "http://x/"})
    assert result.decision is Decision.RECORD_AND_SAMPLE
    assert dict(result.attributes) == {"url.full": "http://x/"}
    child = sampler.should_sample(_parent(True), 7, "child", attributes={"k": 1})
    assert dict(child.attributes) == {"k": 1}
