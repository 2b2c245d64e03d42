"""Serve a listening socket with uvicorn's HTTP protocol and Bastion's head limits.

Only uvicorn's protocol classes are used; the listener, the lifespan, the signals and the
drain are Bastion's, so the shutdown order is the same whatever the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from email.utils import formatdate
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from bastion.server._protocol import BastionHttpToolsProtocol, HeadLimits
from bastion.types import ASGIApp

__all__ = ["UvicornListener"]


class UvicornListener:
    """One listening socket whose connections speak uvicorn's httptools protocol."""

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        *,
        state: dict[str, Any],
        head_limits: HeadLimits,
        idle_timeout: float,
        backlog: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._sock = sock
        self._ssl = ssl_context
        self._backlog = backlog
        self._state = ServerState()
        self._app_state = state
        self._limits = head_limits
        self._config = uvicorn.Config(
            app,
            http=BastionHttpToolsProtocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            # uvicorn types this int, but it is only handed to loop.call_later.
            timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]
        )
        self._server: asyncio.base_events.Server | None = None
        self._clock: asyncio.Task[None] | None = None

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """The request and websocket tasks running on this listener."""
        return self._state.tasks

    async def start(self) -> None:
        """Start accepting connections."""
        self._config.load()
        loop = asyncio.get_running_loop()
        config, state, app_state, limits = self._config, self._state, self._app_state, self._limits

        def protocol() -> asyncio.Protocol:
            return BastionHttpToolsProtocol(
                config, state, app_state, loop, head_limits=limits
            )

        self._refresh_date()
        self._server = await loop.create_server(
            protocol,
            sock=self._sock,
            ssl=self._ssl,
            backlog=self._backlog,
            # A TLS client that stalls its handshake is cut at the header deadline too.
            ssl_handshake_timeout=self._limits.timeout if self._ssl is not None else None,
        )
        self._clock = loop.create_task(self._keep_date(), name="bastion-date-header")

    def stop_accepting(self) -> None:
        """Close the listening socket: new connections are refused from now on."""
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(OSError):
            self._sock.close()

    def close_idle(self) -> None:
        """Close idle connections; busy ones close after their current response."""
        for connection in list(self._state.connections):
            connection.shutdown()

    async def close(self) -> None:
        """Close every connection and cancel what still runs; the listener is done."""
        self.stop_accepting()
        for connection in list(self._state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        for task in list(self._state.tasks):
            task.cancel()
        if self._state.tasks:
            await asyncio.wait(list(self._state.tasks), timeout=1.0)
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock

    def _refresh_date(self) -> None:
        self._state.default_headers = [(b"date", formatdate(usegmt=True).encode("ascii"))]

    async def _keep_date(self) -> None:
        # The Date header has a one-second resolution: format it once a second, not per response.
        while True:
            await asyncio.sleep(1.0)
            self._refresh_date()
