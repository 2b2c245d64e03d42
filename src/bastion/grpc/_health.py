"""`grpc.health.v1.Health`, answered by the App's health checker: the one behind `/healthz`.

`Check` answers SERVING when every dependency is healthy and the App is not draining,
NOT_SERVING otherwise, for the whole server (service "") and for each of the design's
services; an unknown service is NOT_FOUND, as the protocol says. `Watch` sends the
status, then each change (checked as often as the checker's cache allows, at most once
a second); when the drain begins it sends NOT_SERVING and ends the stream with
UNAVAILABLE, so a client moves to another server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["HealthService"]

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthService(health_pb2_grpc.HealthServicer):
    """The health service of one App's gRPC listener."""

    def __init__(self, healthy: Callable[[], Awaitable[bool]], services: Iterable[str],
                 *, interval: float = 1.0) -> None:
        self._healthy = healthy
        self._services = frozenset(["", *services])
        self._interval = interval
        self._draining = asyncio.Event()
        self._ended = asyncio.Event()

    def begin_shutdown(self) -> None:
        """Shutdown began: every status is NOT_SERVING, and watchers are told."""
        self._draining.set()

    def end_watches(self) -> None:
        """The listener drains: every `Watch` stream ends with UNAVAILABLE."""
        self._draining.set()
        self._ended.set()

    async def _status(self) -> int:
        healthy = not self._draining.is_set() and await self._healthy()
        # The drain may begin while the checks run: it wins, so that a watcher is always
        # told NOT_SERVING before its stream ends.
        return int(_SERVING) if healthy and not self._draining.is_set() else int(_NOT_SERVING)

    async def Check(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        """The status of the server or of one service."""
        if request.service not in self._services:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=await self._status())

    async def Watch(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        """The status now, then each change, until the drain."""
        if request.service not in self._services:
            yield health_pb2.HealthCheckResponse(
                status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
            return
        last = None
        while True:
            status = await self._status()
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            if self._draining.is_set():
                # NOT_SERVING was written; the stream ends when the listener drains, after
                # SHUTDOWN_DELAY, as every other stream does. Ending it at once would race
                # the client: grpcio's `read()` on a finished call raises, dropping a
                # message that arrived with the status.
                await self._ended.wait()
                await context.abort(grpc.StatusCode.UNAVAILABLE,
                                    "the server is shutting down; watch another server")
            try:
                async with asyncio.timeout(self._interval):
                    await self._draining.wait()
            except TimeoutError:
                pass

    def add_to(self, server: grpc.aio.Server) -> None:
        """Serve this on `server`."""
        health_pb2_grpc.add_HealthServicer_to_server(self, server)
