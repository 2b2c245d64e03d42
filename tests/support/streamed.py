"""A design of streams that go wrong, for the HTTP stream tests (`bastion serve` target).

Over WebSocket: a bug after one message (1011), a temporary design error (1013), a
result that does not match the design (1011). As server-sent events: a design error
before the first event (its HTTP status), a bug after one (the stream is cut), and a
flood of large events, to stall a client that does not read.
"""

from __future__ import annotations

from typing import Any

import bastion
from bastion.config import Config, load
from bastion.dsl import *

with API("streamed") as api:
    pass

with Type("Chunk") as Chunk:
    Attribute("n", Int)
    Attribute("data", String)
    Required("n")

with Service("streamed"):
    Error("busy", temporary=True, description="Try again later")
    Error("not_found", description="Nothing to stream")
    with HTTP():
        Response("not_found", StatusNotFound)
    for name in ("bug", "busy", "mismatch"):
        with Method(name):
            NoSecurity()
            StreamingResult(Chunk)
            with HTTP():
                GET(f"/ws/{name}")
    for name in ("missing", "broken", "flood"):
        with Method(f"sse_{name}"):
            NoSecurity()
            StreamingResult(Chunk)
            with HTTP():
                GET(f"/sse/{name}")
                ServerSentEvents("data")

#: What the bug's message holds: it must reach no client.
SECRET = "secret=hunter2"


class Streamed:
    """Each method goes wrong its own way."""

    async def bug(self) -> Any:
        yield {"n": 1}
        raise RuntimeError(f"a bug with {SECRET} inside")

    async def busy(self) -> Any:
        yield {"n": 1}
        raise bastion.make_error("busy", "too many streams")

    async def mismatch(self) -> Any:
        yield {"n": "not a number"}

    async def sse_missing(self) -> Any:
        raise bastion.make_error("not_found", "no such feed")
        yield {"n": 0}  # pragma: no cover - an async generator that raises first

    async def sse_broken(self) -> Any:
        yield {"n": 1, "data": "one"}
        raise RuntimeError(f"a bug with {SECRET} inside")

    async def sse_flood(self) -> Any:
        block = "x" * 65536
        n = 0
        while True:
            n += 1
            yield {"n": n, "data": block}


def build() -> bastion.App:
    """The App, configured from the environment."""
    return bastion.App(api, services={"streamed": Streamed()}, config=load(Config))


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
