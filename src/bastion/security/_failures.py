"""Which lockout keys have failed authentications: the record that lets a clean call skip
the store.

A lockout key (a client address, a credential's digest) is *clean* when no failure was
counted for it within its horizon (two windows of its limit). A clean key has its whole
budget, so checking it needs no storage operation. This process knows a key is clean when
every failure counted anywhere reaches this record: always with the in-process store, and
with Redis while the failure feed is followed (`known`). When it is not known, or when the
record would outgrow its size, every key counts as unknown and is checked in the store.

The record also holds the attempts being verified right now per key (`pending`): a
burst of parallel guesses must not all pass before the first failure is counted.
"""

from __future__ import annotations

__all__ = ["FailureIndex"]


class FailureIndex:
    """The lockout keys with recent failures, as far as this process knows (monotonic time)."""

    def __init__(self, size: int, *, known: bool) -> None:
        #: Whether every failure counted for the store reaches `mark` (see the module).
        self.known = known
        #: Attempts being verified right now, per lockout key.
        self.pending: dict[str, int] = {}
        self._size = size
        self._dirty: dict[str, float] = {}  # key -> when it is clean again
        self._latest = 0.0  # the latest "clean again" time ever recorded
        self._blind_until = 0.0  # while the record overflowed: nothing is known clean

    def __len__(self) -> int:
        return len(self._dirty)

    def clean(self, key: str, now: float) -> bool:
        """Whether `key` certainly has no failure in its horizon (so its budget is whole)."""
        if not self.known or now < self._blind_until:
            return False
        until = self._dirty.get(key)
        if until is None:
            return True
        if now >= until:
            del self._dirty[key]
            return True
        return False

    def mark(self, key: str, horizon: float, now: float) -> None:
        """Record a failure for `key`, relevant for `horizon` seconds from `now`."""
        until = now + horizon
        self._latest = max(self._latest, until)
        if now < self._blind_until:
            self._blind_until = self._latest
            return
        if until <= self._dirty.get(key, 0.0):
            return
        if key not in self._dirty and len(self._dirty) >= self._size:
            self._dirty = {k: t for k, t in self._dirty.items() if t > now}
            if len(self._dirty) >= self._size:
                # Too many keys to remember: forget them all and know nothing until every
                # one of them has lapsed. The store is asked meanwhile, as without a record.
                self._dirty = {}
                self._blind_until = self._latest
                return
        self._dirty[key] = until

    def reserve(self, keys: list[str]) -> None:
        """Count one attempt in flight for each of `keys`."""
        pending = self.pending
        for key in keys:
            pending[key] = pending.get(key, 0) + 1

    def release(self, keys: list[str]) -> None:
        """End the attempts `reserve` counted."""
        pending = self.pending
        for key in keys:
            left = pending[key] - 1
            if left:
                pending[key] = left
            else:
                del pending[key]
