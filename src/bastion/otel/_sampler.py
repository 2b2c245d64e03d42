"""Clue's adaptive sampler: keep at most N root traces per second, spread over the traffic.

A fixed ratio either floods the backend at peak or keeps nothing at night. The adaptive
sampler measures the rate of root spans over a sliding window (1 s buckets, 10 s by
default) and keeps each root with probability `N / rate`, so kept traces are spread over
the whole second instead of being the first N. A hard cap per bucket and per window
guarantees "at most N per second" even while the estimate catches up with a burst.
Below N requests per second every trace is kept.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

__all__ = ["AdaptiveSampler", "ParentBasedSampler"]

_TRACE_ID_LOW_MASK = (1 << 64) - 1
_SAMPLE = SamplingResult(Decision.RECORD_AND_SAMPLE)
_DROP = SamplingResult(Decision.DROP)
_AIM = 1.5


class AdaptiveSampler(Sampler):
    """Samples at most `max_per_second` traces per second, measured over a sliding window.

    Use it as the root of `ParentBased` (the default Bastion sampler) so children follow
    their parent's decision. `clock` returns seconds and exists for tests.
    """

    def __init__(
        self,
        max_per_second: float = 2.0,
        *,
        window: float = 10.0,
        bucket: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_per_second > 0:
            raise ValueError(f"AdaptiveSampler: max_per_second must be > 0, got {max_per_second!r}")
        if not bucket > 0 or not window >= 2 * bucket:
            raise ValueError(
                f"AdaptiveSampler: need bucket > 0 and window >= 2 buckets, "
                f"got bucket={bucket!r} window={window!r}"
            )
        self._max = float(max_per_second)
        self._width = float(bucket)
        self._n = int(window // bucket)
        self._clock = clock
        self._per_bucket = max(1, math.ceil(self._max * self._width))
        self._per_window = max(1, math.floor(self._max * self._width * self._n))
        self._seen = [0] * self._n
        self._kept = [0] * self._n
        self._kept_total = 0
        self._first = int(clock() // self._width)
        self._current = self._first
        # Until a whole bucket has been observed there is no rate: keep up to the caps.
        self._bound = 1 << 64
        self._lock = threading.Lock()

    @property
    def max_per_second(self) -> float:
        """The configured ceiling of kept root traces per second."""
        return self._max

    def _roll(self, index: int) -> None:
        # Clear the buckets that fell out of the window, then re-estimate the rate from
        # the completed buckets still in it.
        steps = min(index - self._current, self._n)
        for k in range(1, steps + 1):
            slot = (self._current + k) % self._n
            self._kept_total -= self._kept[slot]
            self._kept[slot] = 0
            self._seen[slot] = 0
        self._current = index
        completed = min(index - self._first, self._n - 1)
        seen = sum(self._seen) - self._seen[index % self._n]
        rate = seen / (completed * self._width) if completed > 0 else 0.0
        # Aim 1.5x above the ceiling: the per-bucket cap trims the excess, and the
        # random arrivals of kept traces then fill the budget (about 1.75 of 2 per second
        # instead of about 1.45 when aiming exactly at it) while staying spread out.
        probability = _AIM * self._max / rate if rate > 0 else 1.0
        self._bound = 1 << 64 if probability >= 1.0 else int(probability * (1 << 64))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Keep the root span when the estimated rate and the caps allow it."""
        index = int(self._clock() // self._width)
        with self._lock:
            if index > self._current:
                self._roll(index)
            slot = index % self._n
            self._seen[slot] += 1
            keep = (
                (trace_id & _TRACE_ID_LOW_MASK) < self._bound
                and self._kept[slot] < self._per_bucket
                and self._kept_total < self._per_window
            )
            if keep:
                self._kept[slot] += 1
                self._kept_total += 1
        state = None
        if parent_context is not None:
            # Used without ParentBased, a child keeps its parent's trace state.
            span_context = get_current_span(parent_context).get_span_context()
            if span_context.is_valid and span_context.trace_state:
                state = span_context.trace_state
        if not keep:
            return _DROP if state is None else SamplingResult(Decision.DROP, None, state)
        # A sampled span starts with the attributes given to start_span: samplers hand
        # them over in their result.
        if state is None and not attributes:
            return _SAMPLE
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)

    def get_description(self) -> str:
        """Name the sampler and its ceiling, as OpenTelemetry samplers do."""
        return f"AdaptiveSampler{{{self._max:g}/s}}"


class ParentBasedSampler(ParentBased):
    """`ParentBased` with the default delegates, minus the per-call overhead.

    A span with a valid parent is sampled exactly when its parent is (local or remote),
    keeping the parent's trace state; a root span asks `root`. Decisions are the SDK's
    `ParentBased(root)`; the results without trace state are shared constants.
    """

    def __init__(self, root: Sampler) -> None:
        super().__init__(root)
        self.root = root
        self._constant = _SAMPLE if root is ALWAYS_ON else _DROP if root is ALWAYS_OFF else None

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Follow a valid parent's sampled flag; ask the root sampler otherwise."""
        parent = get_current_span(parent_context).get_span_context()
        if parent.is_valid:
            state = parent.trace_state or None
            if not parent.trace_flags.sampled:
                return _DROP if state is None else SamplingResult(Decision.DROP, None, state)
        elif self._constant is None:
            return self.root.should_sample(parent_context, trace_id, name, kind, attributes, links)
        elif self._constant is _DROP:
            return _DROP
        else:
            state = None
        # Sampled: the span starts with the attributes given to start_span, which
        # samplers hand over in their result.
        if state is None and not attributes:
            return _SAMPLE
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
