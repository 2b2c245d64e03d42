"""Waiting for a condition another process or thread makes true, with a hang guard.

A timeout here bounds a wait; it is never an assertion about speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 10.0,
               interval: float = 0.05) -> None:
    """Poll `condition` every `interval` s until it is true; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError("condition not met")


async def until(condition: Callable[[], object], timeout: float = 10.0,
                interval: float = 0.02) -> None:
    """`wait_until` for a coroutine: sleeps on the event loop between polls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(interval)
    raise TimeoutError("condition not met")
