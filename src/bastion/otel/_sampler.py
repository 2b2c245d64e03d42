"""Clue's adaptive sampler: keep about N root traces per second, spread over the traffic.

A fixed ratio either floods the backend at peak or keeps nothing at night. The adaptive
sampler is Goa's (`middleware.NewAdaptiveSampler`, which Clue uses): every
`sample_size` root spans it measures the request rate over that block and sets the
probability of keeping a root to `N / rate`, so the kept traces average N per second
whatever the traffic, and below N requests per second every trace is kept. Two changes
make it hold its rate more tightly than Goa's:

- the rate is also re-measured when `max_interval` seconds passed since the last
  measurement, so a drop in traffic is noticed within that interval instead of after
  `sample_size` more requests (Goa needs about 2 s to recover from 1,000 to 5 rps);
- instead of an independent coin toss per request, the probabilities are summed and one
  trace is kept per whole unit of that sum, at a random position inside the unit
  (stratified sampling): the count kept is the expected one, without the coin toss's
  spread, and still no request position is favoured.

A token bucket refilled at N per second and `2 N` deep (at least 2) bounds a burst that
arrives before the next measurement: at most 2N traces at once, then N per second.
"""

from __future__ import annotations

import random
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

from bastion.otel._accel import NATIVE

__all__ = ["AdaptiveSampler", "ParentBasedSampler"]

_SAMPLE = SamplingResult(Decision.RECORD_AND_SAMPLE)
_DROP = SamplingResult(Decision.DROP)


class AdaptiveSampler(Sampler):
    """Keeps about `max_per_second` root traces per second, whatever the request rate.

    Use it as the root of `ParentBased` (the default Bastion sampler) so children follow
    their parent's decision. `sample_size` and `max_interval` say when the rate is
    measured again (after that many roots, or that many seconds, whichever comes first);
    `clock` returns seconds and `seed` fixes the random positions, for tests.
    """

    def __init__(
        self,
        max_per_second: float = 2.0,
        *,
        sample_size: int = 10,
        max_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        problems = []
        if not max_per_second > 0:
            problems.append(f"max_per_second must be > 0, got {max_per_second!r}")
        if not (isinstance(sample_size, int) and sample_size >= 1):
            problems.append(f"sample_size must be an integer >= 1, got {sample_size!r}")
        if not max_interval > 0:
            problems.append(f"max_interval must be > 0 seconds, got {max_interval!r}")
        if problems:
            raise ValueError("AdaptiveSampler: " + "; ".join(problems))
        self._max = float(max_per_second)
        self._size = sample_size
        self._interval = float(max_interval)
        self._clock = clock
        self._random = random.Random(seed).random
        self._lock = threading.Lock()
        # Until the first measurement there is no rate: keep every root (Goa does too);
        # the token bucket bounds what that lets through.
        self._probability = 1.0
        self._count = 0
        self._since = clock()
        # Stratified selection: one keep per unit of summed probability, at `_next`.
        self._credit = 0.0
        self._next = self._random()
        self._burst = max(2.0, 2.0 * self._max)
        self._tokens = self._burst
        self._filled = self._since
        #: Decide for one root span: True to keep it (`should_sample` without the result).
        #: The C keeper of `bastion.otel._native` when it is built (its own state, drawn
        #: from the same clock and random source), else `_keep_root`: the same decisions.
        self.keep_root: Callable[[], bool] = self._keep_root
        if NATIVE is not None:
            self.keep_root = NATIVE.Keeper(self._max, sample_size, self._interval, clock,
                                            random.Random(seed).random).keep

    @property
    def max_per_second(self) -> float:
        """The configured rate of kept root traces per second."""
        return self._max

    def _take(self, now: float) -> bool:
        # The token bucket: refilled at the target rate, `_burst` deep.
        tokens = min(self._burst, self._tokens + (now - self._filled) * self._max)
        self._filled = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True

    def _keep_root(self) -> bool:
        now = self._clock()
        with self._lock:  # once per root span: one frame, no helper call
            count = self._count + 1
            elapsed = now - self._since
            if count >= self._size or elapsed >= self._interval:
                if elapsed > 0:
                    self._probability = min(1.0, self._max * elapsed / count)
                self._count = 0
                self._since = now
            else:
                self._count = count
            if self._probability >= 1.0:
                # Below the target rate: every root, with no debt carried into later strata.
                self._credit = 0.0
            else:
                credit = self._credit + self._probability
                if credit < self._next:
                    self._credit = credit
                    return False
                self._credit = credit - 1.0
                self._next = self._random()
            return self._take(now)

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
        """Keep the root span when its share of the rate budget comes up."""
        keep = self.keep_root()
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
        """Name the sampler and its rate, as OpenTelemetry samplers do."""
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
