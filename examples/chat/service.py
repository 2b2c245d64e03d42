"""The chat service: rooms in memory, one queue per listener."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import bastion
from bastion.endpoint.streams import Stream
from bastion.errors import ServiceError
from bastion.security import APIKeyStore


class Room:
    """Who listens in one room, and how many lines were said in it."""

    def __init__(self) -> None:
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.said = 0

    def say(self, user: str, text: str) -> None:
        """Give a line to every listener."""
        self.said += 1
        line = {"seq": self.said, "user": user, "text": text}
        for queue in self.listeners:
            queue.put_nowait(line)


class Chat:
    """The chat service; `api_key_auth` (the key store) checks the keys."""

    def __init__(self, keys: APIKeyStore) -> None:
        self.api_key_auth = keys
        self.rooms: dict[str, Room] = {}

    async def talk(self, p: Any, stream: Stream[Any]) -> AsyncIterator[dict[str, Any]]:
        """Relay what this client says to the room; stream what the room says to it."""
        if p.room == "closed":
            raise ServiceError("room_closed", f"room {p.room!r} is closed")
        user = bastion.principal().subject
        room = self.rooms.setdefault(p.room, Room())
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        room.listeners.add(queue)

        async def speak() -> None:
            async for say in stream:
                room.say(user, say.text)
            queue.put_nowait({})  # the client ended its stream: so does this one

        speaker = asyncio.get_running_loop().create_task(speak())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, speaker},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    speaker.result()  # an invalid message raises here: the client is told
                    continue
                line = getter.result()
                if not line:
                    return
                yield line
        finally:
            room.listeners.discard(queue)
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await speaker

    async def ticks(self, p: Any) -> AsyncIterator[dict[str, int]]:
        """`count` ticks, `every` seconds apart."""
        for n in range(1, p.count + 1):
            if n > 1:
                await asyncio.sleep(p.every)
            yield {"n": n}

    async def tally(self, p: Any, stream: Stream[Any]) -> dict[str, int]:
        """Count the lines and words the client sends."""
        lines = words = 0
        async for say in stream:
            lines += 1
            words += len(say.text.split())
        return {"lines": lines, "words": words}
