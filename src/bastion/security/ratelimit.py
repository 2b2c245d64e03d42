"""Rate limiting: counts in this process by default, in Redis to share them between Apps.

A `RateLimiter` belongs to an App. All the checks of one request go to the store together:
one round trip to Redis (a Lua script), nothing that can block in memory. When Redis is
unreachable the limiter counts in this process instead (the *fallback*), so limits and
brute-force lockouts still hold per instance and valid callers still pass; it asks Redis
again every `retry_interval` seconds and the shared counts take over when it answers. The
start and the end of an outage are logged once each on the `bastion.security` logger, and
`on_fallback` is called for every check answered locally meanwhile (the App counts them
in the `bastion.ratelimit.fallback` metric). With `fallback=False` an outage applies each
limit's fail mode instead (open: allow, closed: refuse).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from bastion import log
from bastion.errors import ConfigError
from bastion.redact import redact_url
from bastion.security._counters import Check, MemoryCounter, Op, Raw, Strategy, usage
from bastion.security._failures import FailureIndex

if TYPE_CHECKING:
    from bastion.security._redis import RedisCounter

__all__ = ["Decision", "RateLimit", "RateLimiter", "rate_limit_decision"]


#: How many lockout keys with recent failures an App remembers (see `FailureIndex`).
FAILURE_INDEX_SIZE = 100_000


#: Seconds in each unit a limit may name (a month is 30 days, a year 12 months).
_UNITS: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400,
                 "month": 2_592_000, "year": 31_104_000}
_LIMIT: Final = re.compile(
    r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day|month|year)s?\s*", re.IGNORECASE
)


def parse_limit(spec: str) -> tuple[int, int]:
    """`"100/minute"`, `"5 per 10 seconds"`: the hits allowed and the window in seconds.

    Raises ValueError for anything else (several limits, a zero count or window too).
    """
    match = _LIMIT.fullmatch(spec)
    if match is None:
        raise ValueError(f"not a rate limit: {spec!r}")
    amount = int(match[1])
    window = int(match[2] or 1) * _UNITS[match[3].lower()]
    if amount < 1 or window < 1:
        raise ValueError(f"not a rate limit: {spec!r}")
    return amount, window


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A limit such as `"100/minute"` or `"5 per 10 seconds"`, parsed when built.

    `fail_open` overrides the limiter's choice for this limit when its storage is down
    and the limiter has no fallback. A malformed spec raises `ConfigError` at startup,
    not at the first request.
    """

    spec: str
    fail_open: bool | None = None
    #: The number of hits allowed per window.
    amount: int = field(init=False, repr=False, compare=False)
    #: The window, in seconds.
    window: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            amount, window = parse_limit(self.spec)
        except ValueError:
            raise ConfigError(
                [
                    f"rate limit {self.spec!r}: expected one limit such as '100/minute' or "
                    "'5 per 10 seconds'"
                ]
            ) from None
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "window", window)

    @classmethod
    def of(cls, value: RateLimit | str) -> RateLimit:
        """Return `value` as a `RateLimit` (a string is parsed)."""
        return value if isinstance(value, RateLimit) else cls(value)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one rate limit check: allowed or not, and the numbers behind it.

    `degraded` is true when the shared store could not be reached: the counts are then
    this process's own (the fallback) or unknown (`fail_mode`: the limit's fail mode
    decided), and transports leave them out of their answers.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after_seconds: float
    window_seconds: int = 0
    degraded: bool = False
    fail_mode: bool = False


#: The request-limit decision of the call in progress, for the transport's answer.
rate_limit_decision: ContextVar[Decision | None] = ContextVar(
    "bastion.security.rate_limit_decision", default=None
)


class RateLimiter:
    """Counts hits per key against `RateLimit`s, in this process or in Redis.

    Give `storage_url="redis://host:port/db"` (or `rediss://`) to share counts between
    processes and App instances; `None` or `memory://` keeps them in this object.
    `fallback` (default on) counts in this process while Redis is unreachable; without it
    `fail_open` is the default fail mode, which each `RateLimit` may override.
    `key_prefix` separates apps sharing one Redis. `strategy` is `sliding-window-counter`,
    `fixed-window` or `moving-window`. `timeout` bounds each Redis call (socket timeouts).
    Use it as an async context manager (the App does) to follow the failure feed of a
    shared store; without it every lockout check asks Redis.
    """

    def __init__(
        self,
        storage_url: str | None = None,
        *,
        fallback: bool = True,
        fail_open: bool = True,
        key_prefix: str = "bastion",
        strategy: str = "sliding-window-counter",
        timeout: float = 0.5,
        retry_interval: float = 2.0,
        on_fallback: Callable[[int], None] | None = None,
    ) -> None:
        try:
            self.strategy = Strategy(strategy)
        except ValueError:
            raise ConfigError(
                [
                    f"rate limit strategy {strategy!r}: expected one of "
                    f"{', '.join(s.value for s in Strategy)}"
                ]
            ) from None
        if not timeout > 0:
            raise ConfigError([f"rate limiter timeout {timeout!r}: must be > 0 seconds"])
        self.fallback = fallback
        self.fail_open = fail_open
        self.key_prefix = key_prefix
        self.timeout = timeout
        self.retry_interval = retry_interval
        #: Called with the number of checks answered by the fallback, each time it answers.
        self.on_fallback = on_fallback
        self._target = redact_url(storage_url) if storage_url else "memory://"
        self._local = MemoryCounter(self.strategy)
        self._shared = self._make_shared(storage_url)
        self._errors: tuple[type[BaseException], ...] = (
            self._shared.errors() if self._shared is not None else ()
        )
        #: The lockout keys with recent failures (see `FailureIndex`).
        self.failures = FailureIndex(FAILURE_INDEX_SIZE, known=self._shared is None)
        self._available = True
        self._down_until = 0.0
        self._resync = False
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None
        #: How many calls were made to a store (Redis, or counters in this process): each
        #: is one round trip to Redis, whatever the number of checks it carried.
        self.store_calls = 0

    def _make_shared(self, url: str | None) -> RedisCounter | None:
        if url is None or url in ("memory://", "async+memory://"):
            return None
        scheme = urlsplit(url).scheme.removeprefix("async+")
        if scheme not in ("redis", "rediss"):
            raise ConfigError(
                [f"rate limit storage {self._target!r}: expected memory://, redis:// or rediss://"]
            )
        try:
            from bastion.security._redis import RedisCounter
        except ImportError:
            raise ConfigError(
                [
                    f"rate limit storage {self._target!r} needs the redis client: "
                    "pip install 'bastion[redis]'"
                ]
            ) from None
        return RedisCounter(
            url.removeprefix("async+"),
            strategy=self.strategy,
            key_prefix=self.key_prefix,
            timeout=self.timeout,
        )

    @property
    def available(self) -> bool:
        """Whether the shared store answered the last call (always true in memory)."""
        return self._available

    @property
    def shared(self) -> bool:
        """Whether counts are kept in a store shared with other processes."""
        return self._shared is not None

    # -- checks ---------------------------------------------------------------------

    async def hit(
        self, key: str, limit: RateLimit | str, *, fail_open: bool | None = None
    ) -> Decision:
        """Count one hit for `key` and say whether it stays within `limit`."""
        return (await self._run([(key, RateLimit.of(limit))], Op.HIT, fail_open))[0]

    async def peek(
        self, key: str, limit: RateLimit | str, *, fail_open: bool | None = None
    ) -> Decision:
        """Say whether one more hit for `key` would stay within `limit`, without counting it."""
        return (await self._run([(key, RateLimit.of(limit))], Op.PEEK, fail_open))[0]

    async def hit_many(self, items: Sequence[tuple[str, RateLimit]]) -> list[Decision]:
        """Count one hit for each `(key, limit)`, all in one storage call."""
        return await self._run(items, Op.HIT, None)

    async def peek_many(self, items: Sequence[tuple[str, RateLimit]]) -> list[Decision]:
        """Peek at each `(key, limit)`, all in one storage call."""
        return await self._run(items, Op.PEEK, None)

    async def count_failures(self, items: Sequence[tuple[str, RateLimit]]) -> None:
        """Count a failed authentication under each lockout `(key, limit)`, in one call.

        The keys are recorded in `failures` (here, and through the store's failure feed
        in every App sharing it) so that their next checks ask the store.
        """
        now = time.monotonic()
        for key, limit in items:
            self.failures.mark(key, 2 * limit.window, now)
        await self._run(items, Op.HIT, None, announce=True)

    async def clear(self, key: str, limit: RateLimit | str) -> None:
        """Forget the hits counted for `key` under `limit` (e.g. after a successful login)."""
        await self._run([(key, RateLimit.of(limit))], Op.CLEAR, None)

    async def _run(
        self,
        items: Sequence[tuple[str, RateLimit]],
        op: Op,
        fail_open: bool | None,
        *,
        announce: bool = False,
    ) -> list[Decision]:
        checks = [Check(key, lim.amount, lim.window * 1000, op) for key, lim in items]
        shared = self._shared
        if shared is not None and (self._available or time.monotonic() >= self._down_until):
            self.store_calls += 1
            try:
                raws, now = await shared.run(checks, [k for k, _ in items] if announce else None)
            except self._errors as exc:
                self._went_down(exc)
            else:
                if not self._available:
                    self._came_back()
                return self._decisions(items, checks, raws, now, degraded=False)
        if shared is None or self.fallback:
            self.store_calls += 1
            now = int(time.time() * 1000)
            raws = self._local.run(checks, now)
            if shared is not None and self.on_fallback is not None:
                self._report_fallback(len(checks))
            return self._decisions(items, checks, raws, now, degraded=shared is not None)
        return [self._fail_mode(lim, fail_open) for _, lim in items]

    def _decisions(
        self,
        items: Sequence[tuple[str, RateLimit]],
        checks: list[Check],
        raws: list[Raw],
        now: int,
        *,
        degraded: bool,
    ) -> list[Decision]:
        out = []
        for (_, lim), check, raw in zip(items, checks, raws, strict=True):
            u = usage(self.strategy, check, raw, now)
            out.append(
                Decision(
                    allowed=u.allowed,
                    limit=lim.amount,
                    remaining=max(0, lim.amount - u.used),
                    reset_after_seconds=u.reset_ms / 1000,
                    window_seconds=lim.window,
                    degraded=degraded,
                )
            )
        return out

    def _fail_mode(self, rl: RateLimit, fail_open: bool | None) -> Decision:
        open_ = fail_open if fail_open is not None else rl.fail_open
        if open_ is None:
            open_ = self.fail_open
        return Decision(
            allowed=open_,
            limit=rl.amount,
            remaining=rl.amount if open_ else 0,
            reset_after_seconds=self.retry_interval,
            window_seconds=rl.window,
            degraded=True,
            fail_mode=True,
        )

    def _report_fallback(self, n: int) -> None:
        hook = self.on_fallback
        if hook is None:
            return
        try:
            hook(n)
        except Exception:
            # A broken metrics hook must not fail the request it counts.
            log.error(sys.exc_info()[1], "rate limit fallback hook raised")

    def _went_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_interval
        if not self._available:
            return
        self._available = False
        then = (
            "counting in this process until it answers"
            if self.fallback
            else "applying each limit's fail mode"
        )
        # Only the exception's type: its text may name the URL with its password.
        log.warn(f"rate limit storage is unavailable; {then}", storage=self._target,
                 error=type(exc).__name__, retry_every_s=self.retry_interval)

    def _came_back(self) -> None:
        self._available = True
        # Failures counted elsewhere meanwhile never reached this App's record: know
        # nothing until the feed is followed again.
        self.failures.known = False
        self._resync = True
        log.info("rate limit storage is available again; shared counts resume",
                 storage=self._target)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Follow the shared store's failure feed (nothing to do in memory); idempotent."""
        if self._shared is None or self._watcher is not None:
            return
        with contextlib.suppress(*self._errors):
            await self._shared.load()  # an outage now is handled by the first request
        self._stopping = False
        self._watcher = asyncio.get_running_loop().create_task(
            self._follow(), name="bastion.ratelimit.failures"
        )

    async def _follow(self) -> None:
        shared = self._shared
        if shared is None:
            return
        index = self.failures

        def mark(key: str, horizon: float) -> None:
            index.mark(key, horizon, time.monotonic())

        def set_known(known: bool) -> None:
            index.known = known

        def resync() -> bool:
            wanted, self._resync = self._resync, False
            return wanted or self._stopping

        while not self._stopping:
            self._resync = False
            again = False
            try:
                again = await shared.watch(mark, set_known, limit=FAILURE_INDEX_SIZE,
                                           resync=resync)
            except self._errors:
                pass  # an outage: the request path logs it; lockout checks ask the store
            except Exception:
                log.error(sys.exc_info()[1], "following the failure feed failed",
                          storage=self._target)
            if not again:
                await asyncio.sleep(self.retry_interval)

    async def aclose(self) -> None:
        """Stop following the feed and release the storage's connections (App shutdown)."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            self._stopping = True  # seen within one poll even if a cancellation is lost
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if self._shared is not None:
            await self._shared.aclose()

    async def __aenter__(self) -> RateLimiter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
