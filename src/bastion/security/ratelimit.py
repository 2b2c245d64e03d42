"""Rate limiting on top of the `limits` library: memory by default, Redis to share counts.

A `RateLimiter` belongs to an App. Every storage call is bounded by `timeout`; when the
storage fails the limiter answers with each limit's fail mode (open: allow, closed: refuse)
and stops calling the storage for `retry_interval` seconds, so a Redis outage costs one
bounded wait now and then instead of one per request. Outages and recoveries are logged
once per change of state on the `bastion.security` logger.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import RateLimiter as _Strategy
from limits.errors import StorageError
from limits.util import parse_many

from bastion.errors import ConfigError
from bastion.redact import redact_url

__all__ = [
    "Decision",
    "RateLimit",
    "RateLimiter",
    "rate_limit_decision",
    "rate_limit_headers",
]

_log = logging.getLogger("bastion.security")
_T = TypeVar("_T")
_STRATEGIES: dict[str, type[_Strategy]] = {
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A limit such as `"100/minute"` or `"5 per 10 seconds"`, parsed when built.

    `fail_open` overrides the limiter's choice for this limit when its storage is down.
    A malformed spec raises `ConfigError` at startup, not at the first request.
    """

    spec: str
    fail_open: bool | None = None
    item: RateLimitItem = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            items = parse_many(self.spec)
        except ValueError:
            items = []
        if len(items) != 1:
            raise ConfigError(
                [
                    f"rate limit {self.spec!r}: expected one limit such as '100/minute' or "
                    "'5 per 10 seconds'"
                ]
            )
        object.__setattr__(self, "item", items[0])

    @classmethod
    def of(cls, value: RateLimit | str) -> RateLimit:
        """Return `value` as a `RateLimit` (a string is parsed)."""
        return value if isinstance(value, RateLimit) else cls(value)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one rate limit check, with the numbers the response headers need.

    `degraded` is true when the storage could not be reached and the limit's fail mode
    decided: the counts are then unknown and `rate_limit_headers` leaves them out.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after_seconds: float
    window_seconds: int = 0
    degraded: bool = False


#: The request-limit decision of the call in progress, for the transport's response headers.
rate_limit_decision: ContextVar[Decision | None] = ContextVar(
    "bastion.security.rate_limit_decision", default=None
)


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """Return the `RateLimit-*` headers for `decision`, and `Retry-After` when refused."""
    headers: dict[str, str] = {}
    reset = max(0, math.ceil(decision.reset_after_seconds))
    if not decision.degraded:
        headers["RateLimit-Limit"] = str(decision.limit)
        headers["RateLimit-Remaining"] = str(max(0, decision.remaining))
        headers["RateLimit-Reset"] = str(reset)
        if decision.window_seconds:
            headers["RateLimit-Policy"] = f"{decision.limit};w={decision.window_seconds}"
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, reset))
    return headers


class RateLimiter:
    """Counts hits per key against `RateLimit`s, in memory or in Redis.

    Give `storage_url="redis://host:port/db"` (or `rediss://`) to share counts between
    processes and App instances; `None` or `memory://` keeps them in this object.
    `fail_open` is the default when the storage is down; each `RateLimit` may override it.
    `key_prefix` separates apps sharing one Redis. `strategy` is a `limits` strategy name.
    """

    def __init__(
        self,
        storage_url: str | None = None,
        *,
        fail_open: bool = True,
        key_prefix: str = "bastion",
        strategy: str = "sliding-window-counter",
        timeout: float = 0.5,
        retry_interval: float = 2.0,
    ) -> None:
        if strategy not in _STRATEGIES:
            raise ConfigError(
                [f"rate limit strategy {strategy!r}: expected one of {', '.join(_STRATEGIES)}"]
            )
        if not timeout > 0:
            raise ConfigError([f"rate limiter timeout {timeout!r}: must be > 0 seconds"])
        self.fail_open = fail_open
        self.key_prefix = key_prefix
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._target = redact_url(storage_url) if storage_url else "memory://"
        self._pool: Any = None
        self._storage = self._make_storage(storage_url)
        self._strategy: _Strategy = _STRATEGIES[strategy](self._storage)
        self._errors: tuple[type[BaseException], ...] = (TimeoutError, OSError, StorageError)
        base = self._storage.base_exceptions
        self._errors += base if isinstance(base, tuple) else (base,)
        self._available = True
        self._down_until = 0.0

    def _make_storage(self, url: str | None) -> Storage:
        if url is None or url in ("memory://", "async+memory://"):
            return MemoryStorage()
        scheme = urlsplit(url).scheme.removeprefix("async+")
        if scheme not in ("redis", "rediss"):
            raise ConfigError(
                [f"rate limit storage {self._target!r}: expected memory://, redis:// or rediss://"]
            )
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise ConfigError(
                [
                    f"rate limit storage {self._target!r} needs the redis client: "
                    "pip install 'bastion[redis]'"
                ]
            ) from None
        plain = url.removeprefix("async+")
        # Our own pool, so that socket timeouts bound every call, no retry loop hides an
        # outage, and aclose() can release the connections.
        self._pool = aioredis.ConnectionPool.from_url(
            plain, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        options: dict[str, Any] = {"connection_pool": self._pool}
        return RedisStorage(
            f"async+{plain}", implementation="redispy", key_prefix="LIMITS", **options
        )

    @property
    def available(self) -> bool:
        """Whether the last storage call succeeded."""
        return self._available

    async def hit(
        self, key: str, limit: RateLimit | str, *, fail_open: bool | None = None
    ) -> Decision:
        """Count one hit for `key` and say whether it stays within `limit`."""
        rl = RateLimit.of(limit)
        item = rl.item

        async def op() -> tuple[bool, float, int]:
            ok = await self._strategy.hit(item, self.key_prefix, key)
            reset, remaining = await self._strategy.get_window_stats(item, self.key_prefix, key)
            return ok, reset, remaining

        result = await self._call(op)
        if result is None:
            return self._degraded(rl, fail_open)
        ok, reset, remaining = result
        return self._decision(item, ok, reset, remaining)

    async def peek(
        self, key: str, limit: RateLimit | str, *, fail_open: bool | None = None
    ) -> Decision:
        """Say whether one more hit for `key` would stay within `limit`, without counting it."""
        rl = RateLimit.of(limit)
        item = rl.item

        async def op() -> tuple[float, int]:
            reset, remaining = await self._strategy.get_window_stats(item, self.key_prefix, key)
            return reset, remaining

        result = await self._call(op)
        if result is None:
            return self._degraded(rl, fail_open)
        reset, remaining = result
        return self._decision(item, remaining > 0, reset, remaining)

    async def clear(self, key: str, limit: RateLimit | str) -> None:
        """Forget the hits counted for `key` under `limit` (e.g. after a successful login)."""
        item = RateLimit.of(limit).item

        async def op() -> None:
            await self._strategy.clear(item, self.key_prefix, key)

        await self._call(op)

    async def aclose(self) -> None:
        """Release the storage's connections; call it when the App shuts down."""
        if self._pool is not None:
            await self._pool.aclose()

    async def __aenter__(self) -> RateLimiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _decision(self, item: RateLimitItem, ok: bool, reset: float, remaining: int) -> Decision:
        return Decision(
            allowed=ok,
            limit=item.amount,
            remaining=max(0, int(remaining)),
            reset_after_seconds=max(0.0, reset - time.time()),
            window_seconds=item.get_expiry(),
        )

    def _degraded(self, rl: RateLimit, fail_open: bool | None) -> Decision:
        open_ = fail_open if fail_open is not None else rl.fail_open
        if open_ is None:
            open_ = self.fail_open
        amount = rl.item.amount
        return Decision(
            allowed=open_,
            limit=amount,
            remaining=amount if open_ else 0,
            reset_after_seconds=self.retry_interval,
            window_seconds=rl.item.get_expiry(),
            degraded=True,
        )

    async def _call(self, op: Callable[[], Awaitable[_T]]) -> _T | None:
        # None means "storage unavailable": the caller applies the fail mode.
        if not self._available and time.monotonic() < self._down_until:
            return None
        try:
            with anyio.fail_after(self.timeout):
                result = await op()
        except self._errors as exc:
            self._down_until = time.monotonic() + self.retry_interval
            if self._available:
                self._available = False
                # Only the exception's type: its text may name the URL with its password.
                _log.warning(
                    "rate limit storage %s is unavailable (%s); applying each limit's fail "
                    "mode and retrying every %.1fs",
                    self._target,
                    type(exc).__name__,
                    self.retry_interval,
                )
            return None
        if not self._available:
            self._available = True
            _log.info("rate limit storage %s is available again", self._target)
        return result
