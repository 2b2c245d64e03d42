"""One pool of threads per App for sync service methods and sync auth handlers.

Its size is `THREADS` (64 by default: enough for handlers that wait on I/O, unlike the
event loop's default pool, sized for CPU work). Each call runs in a copy of the caller's
context, so logs, spans and the request's lifetime follow it into the thread. A call whose
request was cancelled while it waited for a thread does not run at all, and a shutdown
waits for the calls that are running, so their log lines are written by the App's logger.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bastion.endpoint import lifetime
from bastion.errors import Cancelled

__all__ = ["ThreadRunner"]

_T = TypeVar("_T")


class ThreadRunner:
    """Run sync callables in the App's threads."""

    def __init__(self, max_threads: int = 64) -> None:
        if max_threads < 1:
            raise ValueError(f"THREADS must be at least 1, got {max_threads}")
        self.max_threads = max_threads
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running = 0
        self._idle = threading.Condition(self._lock)

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Call `fn(*args)` in a thread, in a copy of this context; return its result."""
        executor = self._executor
        if executor is None:
            executor = self._start()
        context = contextvars.copy_context()
        call = functools.partial(self._call, context, lifetime.current(), fn, args)
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    def _call(self, context: contextvars.Context, life: lifetime.Lifetime | None,
              fn: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        if life is not None and life.cancelled:
            # The client was answered while this call waited for a thread.
            raise Cancelled(f"the request was cancelled ({life.reason}) before it ran")
        with self._lock:
            self._running += 1
        try:
            return context.run(fn, *args)
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self._idle.notify_all()

    @property
    def running(self) -> int:
        """How many calls are running in threads now."""
        return self._running

    def _start(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_threads, thread_name_prefix="bastion")
            return self._executor

    def wait_idle(self, timeout: float) -> bool:
        """Block up to `timeout` seconds until no call runs; say whether none does."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    async def aclose(self, timeout: float) -> bool:
        """Let running calls finish (up to `timeout` seconds), then stop; False if some ran on."""
        executor = self._executor
        if executor is None:
            return True
        idle = await asyncio.to_thread(self.wait_idle, timeout)
        executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None
        return idle
