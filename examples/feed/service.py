"""The feed service: the notices in memory, a wake-up for the watchers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from bastion.security import APIKeyStore

#: What a client waits before it reconnects, sent with the first event of a stream.
RETRY_MS = 2000


class Feed:
    """The feed service; `api_key_auth` (the key store) checks publishers."""

    def __init__(self, keys: APIKeyStore) -> None:
        self.api_key_auth = keys
        self.notices: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()

    async def watch(self, p: Any) -> AsyncIterator[dict[str, Any]]:
        """Replay the notices after `p.after`, then follow the feed."""
        seen = int(p.after) if p.after else 0
        first = True
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda n=seen: len(self.notices) > n)
                fresh = self.notices[seen:]
            seen += len(fresh)
            for notice in fresh:
                if p.kind is not None and notice["kind"] != p.kind:
                    continue
                yield {**notice, "retry": RETRY_MS} if first else notice
                first = False

    async def clock(self, p: Any) -> AsyncIterator[dict[str, int]]:
        """`count` ticks, `every` seconds apart."""
        for n in range(1, p.count + 1):
            if n > 1:
                await asyncio.sleep(p.every)
            yield {"n": n}

    async def publish(self, p: Any) -> dict[str, Any]:
        """Append a notice and wake every watcher."""
        async with self._changed:
            notice = {"id": str(len(self.notices) + 1), "kind": p.kind, "text": p.text}
            self.notices.append(notice)
            self._changed.notify_all()
        return notice
