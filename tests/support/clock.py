"""A clock the test moves by hand, for parts that take a `clock` callable."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock at `now` seconds until the test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` forward."""
        self.now += seconds
