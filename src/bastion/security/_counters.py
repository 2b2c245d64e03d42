"""Counting hits in windows: the three strategies, and their state kept in this process.

A storage answers each check with its raw window state (`Raw`), decided and counted
atomically; `count()` turns that state into what a `Decision` says (hits used, when room
comes back), with the same arithmetic whether the state lives here or in Redis. Times are
integer milliseconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

__all__ = ["Check", "MemoryCounter", "Op", "Raw", "Strategy", "Usage", "usage"]

_Key = tuple[str, int, int]


class Strategy(StrEnum):
    """How hits are counted over time (the names the `limits` library uses)."""

    SLIDING = "sliding-window-counter"  # this window's hits plus a decaying share of the last
    FIXED = "fixed-window"  # hits since the window (aligned on the clock) began
    MOVING = "moving-window"  # every hit's time kept: exact, and the most memory


class Op(StrEnum):
    """What a check does to its counter."""

    PEEK = "p"  # say whether one more hit fits, count nothing
    HIT = "h"  # count one hit if it fits
    CLEAR = "c"  # forget the counter


class Check(NamedTuple):
    """One counter to check: its storage key, the limit, and what to do."""

    key: str
    amount: int
    window_ms: int
    op: Op


class Raw(NamedTuple):
    """A storage's answer to one check: whether it fitted, and the window's state.

    Sliding: `a` = hits of the previous window, `b` = of this one (after the hit). Fixed:
    `a` = hits of this window. Moving: `a` = hits in the window, `b` = the time of the hit
    whose expiry frees room (-1 when there is none).
    """

    allowed: bool
    a: int
    b: int


@dataclass(frozen=True, slots=True)
class Usage:
    """What a check found: whether it fitted, the hits used, and when room comes back."""

    allowed: bool
    used: int
    reset_ms: int


def usage(strategy: Strategy, check: Check, raw: Raw, now: int) -> Usage:
    """Read `raw` as hits used and the wait until one more hit fits (or the window ends)."""
    w, amount = check.window_ms, check.amount
    if strategy is Strategy.FIXED:
        return Usage(raw.allowed, raw.a, w - now % w)
    if strategy is Strategy.MOVING:
        reset = raw.b + w - now if raw.b >= 0 else w
        return Usage(raw.allowed, raw.a, max(0, reset))
    prev, cur = raw.a, raw.b
    elapsed = now % w
    used = prev * (w - elapsed) // w + cur
    if raw.allowed or used < amount:
        return Usage(raw.allowed, used, w - elapsed)
    # Refused: wait until the previous window's share has decayed enough, or past this
    # window's end when this window alone is full.
    room = amount - 1
    if cur <= room:
        # prev * (w - e) // w <= room - cur  holds once  e >= w - (room - cur + 1) * w / prev
        at = w - (room - cur + 1) * w // prev
        return Usage(False, used, max(1, at - elapsed))
    # Next window: cur becomes its previous; cur * (w - e) // w <= room once e >= ...
    at = w - (room + 1) * w // cur
    return Usage(False, used, (w - elapsed) + max(1, at))


class MemoryCounter:
    """Counters in this process: never blocks, never fails; expired state is swept."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        # (key, amount, window) -> [window index, previous count, current count] (sliding
        # and fixed), or a deque of hit times (moving); beside it, when it can be forgotten.
        self._windows: dict[_Key, list[int]] = {}
        self._moving: dict[_Key, deque[int]] = {}
        self._expires: dict[_Key, int] = {}
        self._sweep_at = 1024

    def __len__(self) -> int:
        return len(self._expires)

    def run(self, checks: Sequence[Check], now: int) -> list[Raw]:
        """Answer every check at time `now` (ms), in order."""
        out = [self._one(c, now) for c in checks]
        if len(self._expires) >= self._sweep_at:
            self._sweep(now)
        return out

    def _one(self, check: Check, now: int) -> Raw:
        name, amount, w, op = check
        key = (name, amount, w)  # one counter per key and limit
        if op is Op.CLEAR:
            self._windows.pop(key, None)
            self._moving.pop(key, None)
            self._expires.pop(key, None)
            return Raw(True, 0, 0)
        if self.strategy is Strategy.MOVING:
            return self._moving_window(key, amount, w, op, now)
        idx = now // w
        state = self._windows.get(key)
        if state is None:
            state = [idx, 0, 0]
        elif state[0] != idx:
            # The window moved on: this one's count becomes the previous (or both lapse).
            state = [idx, state[2] if state[0] == idx - 1 else 0, 0]
        prev, cur = state[1], state[2]
        if self.strategy is Strategy.FIXED:
            fits = cur + 1 <= amount
            if fits and op is Op.HIT:
                cur += 1
                self._store(key, [idx, 0, cur], (idx + 1) * w)
            return Raw(fits, cur, 0)
        elapsed = now - idx * w
        fits = prev * (w - elapsed) // w + cur + 1 <= amount
        if fits and op is Op.HIT:
            cur += 1
            self._store(key, [idx, prev, cur], (idx + 2) * w)
        return Raw(fits, prev, cur)

    def _moving_window(self, key: _Key, amount: int, w: int, op: Op, now: int) -> Raw:
        hits = self._moving.get(key)
        if hits is None:
            hits = deque()
        while hits and hits[0] <= now - w:
            hits.popleft()
        n = len(hits)
        fits = n + 1 <= amount
        if fits and op is Op.HIT:
            hits.append(now)
            n += 1
            self._moving[key] = hits
            self._expires[key] = now + w
        if n == 0:
            return Raw(fits, 0, -1)
        # The hit whose expiry frees room: the oldest when there is room, else the one
        # that brings the count under the limit when it leaves.
        return Raw(fits, n, hits[0] if fits else hits[n - amount])

    def _store(self, key: _Key, state: list[int], expires: int) -> None:
        self._windows[key] = state
        self._expires[key] = expires

    def _sweep(self, now: int) -> None:
        # Amortised: a full pass at most once per doubling of the live keys.
        dead = [k for k, t in self._expires.items() if t <= now]
        for k in dead:
            del self._expires[k]
            self._windows.pop(k, None)
            self._moving.pop(k, None)
        self._sweep_at = max(1024, 2 * len(self._expires))
