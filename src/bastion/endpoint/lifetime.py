"""The lifetime of one call: its deadline, its cancellation, and the point of no return.

A transport gives every call a `Lifetime` (the HTTP server from `WRITE_TIMEOUT`, gRPC from
the client's deadline) and makes it current while the call runs, in async code and in the
threads of sync methods alike:

```python
def create(self, p):
    if bastion.cancelled():            # the client was answered already: do nothing
        raise bastion.Cancelled()
    with self.db.transaction() as tx:
        tx.insert(order)
        with bastion.committing():     # raises Cancelled if the call is over
            tx.commit()                # from here on the call is never cancelled
```

`committing()` is what makes a failure response honest: the server cancels a call only
before it begins committing, and once it has begun the call's answer is its own. A
deadline that passes while committing waits for the commit (bounded by the server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Final

from bastion.errors import Cancelled

__all__ = [
    "Lifetime",
    "cancelled",
    "committing",
    "current",
    "deadline",
    "remaining",
    "reset",
    "use",
]

_RUNNING, _COMMITTING, _COMMITTED, _CANCELLED, _DONE = range(5)


class Lifetime:
    """One call's deadline (on `time.monotonic()`'s clock) and cancellation state."""

    __slots__ = ("_lock", "_state", "deadline", "reason")

    def __init__(self, deadline: float | None = None) -> None:
        #: When the call must be answered, on `time.monotonic()`'s clock; None for never.
        self.deadline = deadline
        #: Why the call was cancelled ("write_timeout", "shutdown", "client"), or "".
        self.reason = ""
        self._state = _RUNNING
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        """Whether the call was cancelled: whoever called it has been answered."""
        return self._state == _CANCELLED

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative once past), or None without one."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def cancel(self, reason: str) -> bool:
        """Cancel the call unless it is committing or committed; return whether it was."""
        with self._lock:
            if self._state == _RUNNING:
                self._state = _CANCELLED
                self.reason = reason
                return True
            return self._state == _CANCELLED

    @contextmanager
    def committing(self) -> Iterator[None]:
        """Enter the point of no return: raise `Cancelled` if the call is over already."""
        with self._lock:
            if self._state == _CANCELLED:
                raise Cancelled(f"the call was cancelled ({self.reason}): do not commit")
            self._state = _COMMITTING
        try:
            yield
        finally:
            with self._lock:
                # Committed or not, the call now owns its answer.
                self._state = _COMMITTED

    def finish(self) -> None:
        """The call has returned."""
        with self._lock:
            if self._state != _CANCELLED:
                self._state = _DONE


_current: Final[ContextVar[Lifetime | None]] = ContextVar("bastion.lifetime", default=None)


def current() -> Lifetime | None:
    """The lifetime of the call in progress, or None outside a call."""
    return _current.get()


def use(lifetime: Lifetime | None) -> Token[Lifetime | None]:
    """Make `lifetime` current; return the token to pass to `reset`."""
    return _current.set(lifetime)


def reset(token: Token[Lifetime | None]) -> None:
    """Restore the lifetime that was current before `use`."""
    _current.reset(token)


def deadline() -> float | None:
    """When the call in progress must be answered (`time.monotonic()` clock), or None."""
    life = _current.get()
    return life.deadline if life is not None else None


def remaining() -> float | None:
    """Seconds left for the call in progress, or None without a deadline."""
    life = _current.get()
    return life.remaining() if life is not None else None


def cancelled() -> bool:
    """Whether the call in progress was cancelled (False outside a call)."""
    life = _current.get()
    return life is not None and life.cancelled


@contextmanager
def committing() -> Iterator[None]:
    """Commit the call's effects: raise `Cancelled` if it is over, else never cancel it.

    Outside a call (a script, a test calling the method directly) it does nothing.
    """
    life = _current.get()
    if life is None:
        yield
        return
    with life.committing():
        yield
