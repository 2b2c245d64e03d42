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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def simulate(
    sampler: AdaptiveSampler, clock: FakeClock, rate: int, seconds: int, seed: int = 7
) -> dict[int, list[int]]:
    """Send `rate` evenly spaced roots per second; return kept request indexes per second."""
    ids = random.Random(seed)
    kept: dict[int, list[int]] = {}
    start = int(clock.now)
    for second in range(seconds):
        kept[second] = []
        for i in range(rate):
            clock.now = start + second + i / rate
            result = sampler.should_sample(None, ids.getrandbits(128), "GET")
            if result.decision is Decision.RECORD_AND_SAMPLE:
                kept[second].append(i)
    clock.now = start + seconds
    return kept


def test_every_trace_is_kept_below_the_rate() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(2, clock=clock)
    kept = simulate(sampler, clock, rate=2, seconds=15)
    assert all(len(v) == 2 for v in kept.values())


def test_at_most_n_traces_per_second_under_load() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(2, clock=clock)
    kept = simulate(sampler, clock, rate=500, seconds=30)

    assert max(len(v) for v in kept.values()) <= 2
    # Once the window has a rate, the budget is used rather than starved...
    steady = [len(v) for second, v in kept.items() if second >= 10]
    assert sum(steady) >= 1.2 * len(steady)  # about 1.75 per second expected
    # ...and kept traces are spread over each second, not just its first requests.
    positions = [i for second, v in kept.items() if second >= 10 for i in v]
    assert max(positions) > 250


def test_a_burst_is_capped_in_its_first_second() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(3, clock=clock)
    quiet = simulate(sampler, clock, rate=1, seconds=12)
    assert all(len(v) == 1 for v in quiet.values())
    burst = simulate(sampler, clock, rate=2000, seconds=3)
    assert [len(v) for v in burst.values()] <= [3, 3, 3]
    assert all(len(v) <= 3 for v in burst.values())


def test_fractional_rates_are_respected_over_the_window() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(0.5, clock=clock)
    kept = simulate(sampler, clock, rate=100, seconds=10)
    assert sum(len(v) for v in kept.values()) <= 5


def test_idle_gap_clears_the_window() -> None:
    clock = FakeClock()
    sampler = AdaptiveSampler(2, clock=clock)
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
    root = AdaptiveSampler(1, clock=clock)
    sampler = ParentBasedSampler(root)
    # Spend the root budget of this second.
    assert sampler.should_sample(None, 1, "GET").decision is Decision.RECORD_AND_SAMPLE
    assert sampler.should_sample(None, 2, "GET").decision is Decision.DROP

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
    "kwargs", [{"max_per_second": 0}, {"max_per_second": -1}, {"window": 1.0}, {"bucket": 0}]
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
