"""Counters in Redis: every check of one request in one script call, and the failure feed.

One Lua script answers a batch of checks atomically, with the server's clock, in one round
trip (EVALSHA through redis-py's public `register_script`). When it counts a failed
authentication it also announces the lockout key: a PUBLISH that every App sharing the
store hears, and an entry in a sorted set of recent failures (score: when it lapses) that
an App reads when it (re)subscribes. So each App knows which lockout keys have failures
anywhere, and may skip checking the others.

Every call is bounded by the socket timeouts; redis-py's retries are off, so an outage
costs one bounded wait, after which the limiter stops asking for a while.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, cast

from bastion.security._counters import Check, Raw, Strategy

__all__ = ["RedisCounter"]

_STRATEGY_CODE: Final = {Strategy.SLIDING: "s", Strategy.FIXED: "f", Strategy.MOVING: "m"}

# KEYS[i]: the counter of check i. ARGV: strategy, channel, index, then per check: op,
# amount, window (ms), and the lockout key to announce ('' for none). Returns the server
# time (ms) then three numbers per check: fits (0/1), a, b (see `Raw`).
_CHECKS: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local strategy, channel, index = ARGV[1], ARGV[2], ARGV[3]
local out = {now}
local announced = false
for i = 1, #KEYS do
  local base = 3 + (i - 1) * 4
  local op = ARGV[base + 1]
  local amount = tonumber(ARGV[base + 2])
  local w = tonumber(ARGV[base + 3])
  local tag = ARGV[base + 4]
  local key = KEYS[i]
  local fits, a, b = 1, 0, 0
  if strategy == 'm' then
    if op == 'c' then
      redis.call('DEL', key)
    else
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - w)
      local n = redis.call('ZCARD', key)
      if n + 1 > amount then fits = 0 end
      if fits == 1 and op == 'h' then
        redis.call('ZADD', key, now, now .. '.' .. n)
        redis.call('PEXPIRE', key, w)
        n = n + 1
      end
      a, b = n, -1
      if n > 0 then
        local rank = 0
        if fits == 0 then rank = n - amount end
        b = tonumber(redis.call('ZRANGE', key, rank, rank, 'WITHSCORES')[2])
      end
    end
  else
    local idx = math.floor(now / w)
    local cur_key = key .. ':' .. idx
    if op == 'c' then
      redis.call('DEL', cur_key, key .. ':' .. (idx - 1))
    else
      local cur = tonumber(redis.call('GET', cur_key) or '0')
      local prev = 0
      if strategy == 's' then
        prev = tonumber(redis.call('GET', key .. ':' .. (idx - 1)) or '0')
      end
      local elapsed = now - idx * w
      if math.floor(prev * (w - elapsed) / w) + cur + 1 > amount then fits = 0 end
      if fits == 1 and op == 'h' then
        cur = redis.call('INCR', cur_key)
        if cur == 1 then
          if strategy == 's' then redis.call('PEXPIRE', cur_key, 2 * w)
          else redis.call('PEXPIRE', cur_key, w) end
        end
      end
      if strategy == 's' then a, b = prev, cur else a = cur end
    end
  end
  if tag ~= '' and op == 'h' then
    -- Failures stay relevant for two windows (the sliding counter's reach).
    redis.call('PUBLISH', channel, (2 * w) .. ' ' .. tag)
    redis.call('ZADD', index, now + 2 * w, tag)
    announced = true
  end
  out[#out + 1] = fits
  out[#out + 1] = a
  out[#out + 1] = b
end
if announced then redis.call('ZREMRANGEBYSCORE', index, '-inf', now) end
return out
"""

# KEYS[1]: the index of recent failures. ARGV[1]: the most entries to return. Returns the
# server time, then -1 when there are more, else a flat list of key, ms-left pairs.
_RECENT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[1]) then return {now, -1} end
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {now, 0}
for i = 1, #entries, 2 do
  out[#out + 1] = entries[i]
  out[#out + 1] = tonumber(entries[i + 1]) - now
end
return out
"""

#: How long a pub/sub read waits before the watcher looks at its flags again (seconds).
_POLL = 1.0


class RedisCounter:
    """The counters of one `key_prefix` in one Redis, and the feed of failures."""

    def __init__(self, url: str, *, strategy: Strategy, key_prefix: str, timeout: float) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.strategy = strategy
        self.prefix = key_prefix
        self.channel = f"{key_prefix}:authfail"
        self.index = f"{key_prefix}:authfail:recent"
        # Our own pool: socket timeouts bound every call, no retry hides an outage, and
        # aclose() releases the connections.
        self.pool = aioredis.ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self.client = aioredis.Redis(connection_pool=self.pool)
        self._checks = self.client.register_script(_CHECKS)
        self._recent = self.client.register_script(_RECENT)

    @staticmethod
    def errors() -> tuple[type[BaseException], ...]:
        """The exceptions that mean the store is unreachable or misbehaving."""
        from redis.exceptions import RedisError

        return (RedisError, OSError, TimeoutError)

    async def load(self) -> None:
        """Load the scripts now, so that the first request's call is one EVALSHA too."""
        await self.client.script_load(_CHECKS)
        await self.client.script_load(_RECENT)

    async def run(
        self, checks: Sequence[Check], tags: Sequence[str] | None
    ) -> tuple[list[Raw], int]:
        """Answer `checks` in one round trip; `tags` are lockout keys to announce."""
        keys = [f"{self.prefix}:{c.key}:{c.amount}:{c.window_ms}" for c in checks]
        args: list[Any] = [_STRATEGY_CODE[self.strategy], self.channel, self.index]
        for i, c in enumerate(checks):
            args += [c.op.value, c.amount, c.window_ms, tags[i] if tags is not None else ""]
        reply = await self._checks(keys=keys, args=args)
        now = int(reply[0])
        raws = [
            Raw(bool(reply[j]), int(reply[j + 1]), int(reply[j + 2]))
            for j in range(1, len(reply), 3)
        ]
        return raws, now

    async def watch(
        self,
        mark: Callable[[str, float], None],
        set_known: Callable[[bool], None],
        *,
        limit: int,
        resync: Callable[[], bool],
    ) -> bool:
        """Follow the failure feed until cancelled: `mark(key, seconds)` for each failure.

        `set_known(True)` once subscribed and the recent failures are read (so every
        failure from then on reaches `mark`); `set_known(False)` as soon as that may no
        longer hold. Raises on a storage error; returns True when `resync()` asks for a
        fresh start, False when there are too many recent failures to hold.
        """
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            # Wait for the server's confirmation before reading the index. redis-py may
            # swallow a cancellation inside a read: every loop here also asks `resync()`.
            while True:
                if resync():
                    return True
                msg = await pubsub.get_message(timeout=_POLL)
                if msg is not None and msg["type"] == "subscribe":
                    break
            reply = await self._recent(keys=[self.index], args=[limit])
            if int(reply[1]) < 0:
                return False  # too many to hold: stay unknown (the store is asked) for now
            for j in range(2, len(reply), 2):
                mark(reply[j].decode("utf-8", "replace"), int(reply[j + 1]) / 1000)
            set_known(True)
            while not resync():
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL)
                if msg is None or msg["type"] != "message":
                    continue
                horizon, _, key = msg["data"].decode("utf-8", "replace").partition(" ")
                mark(key, int(horizon) / 1000)
            return True
        finally:
            set_known(False)
            # Typed in redis-py 8, untyped before: called through Any for both.
            await cast("Any", pubsub).aclose()

    async def aclose(self) -> None:
        """Release the connections."""
        await self.client.aclose()
        await self.pool.aclose()
