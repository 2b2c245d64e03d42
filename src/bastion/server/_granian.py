"""Serve the API with Granian's embedded server (SERVER=granian).

Granian is faster than uvicorn but lacks some of Bastion's guarantees (see docs/server.md):
its header-read timer starts at a request's first byte, so a client that connects and
sends nothing is never closed, and it has no idle timeout for keep-alive connections.
Bastion's ASGI middlewares still give it the body limit, the read and write timeouts, the
concurrency limit and HSTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from typing import Any

from bastion.errors import ConfigError
from bastion.types import ASGIApp, Receive, Scope, Send

__all__ = ["GranianListener"]

_log = logging.getLogger("bastion.server")
# hyper refuses a read buffer smaller than this; it also bounds the request head.
_MIN_BUFFER = 8192


class GranianListener:
    """Granian serving `app` on host:port (bound with SO_REUSEPORT, so workers share it)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        state: dict[str, Any],
        read_header_timeout: float,
        max_header_bytes: int,
        backlog: int,
        tls_cert_file: Path | None = None,
        tls_key_file: Path | None = None,
    ) -> None:
        # Granian is an optional extra: import it only when SERVER=granian.
        try:
            from granian.constants import HTTPModes, Interfaces, SSLProtocols
            from granian.http import HTTP1Settings
            from granian.server.embed import Server
        except ImportError:
            raise ConfigError(
                ["SERVER='granian': Granian is not installed; `pip install 'bastion[granian]'`"]
            ) from None

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            # Without Granian's own lifespan, hand each request a copy of Bastion's state.
            scope["state"] = state.copy()
            await app(scope, receive, send)

        self.host = host
        self.port = port
        # Typed Any: Granian's embedded server is untyped and marked experimental.
        self._server: Any = Server(
            with_state,
            address=host,
            port=port,
            interface=Interfaces.ASGINL,
            http=HTTPModes.http1,
            backlog=backlog,
            http1_settings=HTTP1Settings(
                header_read_timeout=max(1, round(read_header_timeout * 1000)),
                keep_alive=True,
                max_buffer_size=max(_MIN_BUFFER, max_header_bytes),
            ),
            # Granian applies its logging config with dictConfig, which would close every
            # handler already set up; an incremental config leaves them alone, and its
            # records reach them through the root logger.
            log_dictconfig={"incremental": True, "handlers": {}, "formatters": {},
                            "loggers": {"_granian": {"propagate": True}}},
            ssl_cert=tls_cert_file,
            ssl_key=tls_key_file,
            ssl_protocol_min=SSLProtocols.tls12,
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """Granian runs requests outside asyncio's task set: always empty."""
        return set()

    async def start(self) -> None:
        """Start Granian and return once it accepts connections."""
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(), name="bastion-granian"
        )
        probe_host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        probe_host = "::1" if probe_host == "::" else probe_host
        for _ in range(200):
            if self._task.done():
                self._task.result()
                raise OSError(f"Granian stopped while starting on {self.host}:{self.port}")
            if await _accepts(probe_host, self.port):
                return
            await asyncio.sleep(0.025)
        raise OSError(f"Granian did not listen on {self.host}:{self.port} within 5s")

    def stop_accepting(self) -> None:
        """Stop accepting; Granian then waits for the connections it has to finish."""
        self._server.stop()

    def close_idle(self) -> None:
        """Granian closes idle connections itself once stopped."""

    async def close(self) -> None:
        """Wait a little for Granian to finish, then cancel it."""
        if self._task is None:
            return
        self._server.stop()
        done, _ = await asyncio.wait([self._task], timeout=2.0)
        if not done:
            _log.warning("Granian did not stop within 2s; cancelling it")
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def _accepts(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        _, writer = await asyncio.open_connection(host, port, family=family)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
