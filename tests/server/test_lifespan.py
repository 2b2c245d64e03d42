"""The ASGI lifespan driver the server uses for apps that are not Bastion Apps."""

from __future__ import annotations

import pytest

from bastion.server._lifespan import Lifespan, LifespanError
from bastion.types import Receive, Scope, Send


async def test_lifespan_state_startup_and_shutdown() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                scope["state"]["db"] = "open"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    lifespan = Lifespan(app)
    await lifespan.startup()
    assert lifespan.state == {"db": "open"}
    await lifespan.shutdown()
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert not lifespan.failed


async def test_an_app_without_lifespan_is_served_anyway() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only http")

    lifespan = Lifespan(app)
    await lifespan.startup()
    assert not lifespan.supported
    await lifespan.shutdown()


async def test_a_failed_startup_raises_lifespan_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(LifespanError, match="no database"):
        await Lifespan(app).startup()
