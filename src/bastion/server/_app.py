"""The server's view of the app it serves: a `ServedApp`, or any ASGI app with defaults."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import traceback
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bastion._ids import new_id
from bastion.http.errors import error_body
from bastion.log import Logger
from bastion.server._lifespan import Lifespan
from bastion.types import ASGIApp, Refusal, Scope, ServedApp

__all__ = ["Served"]


class Served:
    """One app as the server uses it: its ASGI app, admin app, logger and lifespan.

    A Bastion `App` provides all of it (`ServedApp`); a plain ASGI app gets its ASGI
    lifespan, no admin listener, the default logger for the server's lines and
    errors in Bastion's JSON shape.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.contract: ServedApp | None = app if isinstance(app, ServedApp) else None
        if self.contract is not None:
            self.title = self.contract.title
            self.admin_app: ASGIApp | None = self.contract.admin_app
            self.logger = self.contract.logger
            self.links: Mapping[str, str] = self.contract.links()
        else:
            self.title = ""
            self.admin_app = None
            self.logger = Logger.from_env()
            self.links = {}
        self._asgi_lifespan: Lifespan | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        #: The context requests start from: the one the lifespan set up.
        self.context = contextvars.copy_context()
        #: What the lifespan put in the ASGI `state`, copied into every request's scope.
        self.state: dict[str, Any] = {}

    def log(self, level: str, message: str, **fields: object) -> None:
        """Write one of the server's lines in the app's log format."""
        self.logger.write_line(level, message, {"logger": "bastion.server", **fields})

    def log_error(self, exc: BaseException, scope: Scope, request_id: str) -> None:
        """Log an exception that escaped the app, with its whole stack."""
        self.logger.write_line("error", "unexpected error", {
            "logger": "bastion.server",
            "request_id": request_id,
            "err": exc,
            "http.request.method": scope.get("method", ""),
            "url.path": scope.get("path", ""),
            "stack": "".join(traceback.format_exception(exc)),
        })

    async def start(self) -> None:
        """Run the app's startup, in a task of its own that later runs its shutdown.

        One task enters and leaves the lifespan, as the lifespan's context variables
        require; requests start from a copy of the context it set up (`context`).
        """
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        self._stop = asyncio.Event()
        self._task = loop.create_task(self._run_lifespan(started), name="bastion-lifespan")
        await started

    async def stop(self) -> None:
        """Run the app's shutdown; raise what it raised."""
        if self._task is None:
            return
        self._stop.set()
        task, self._task = self._task, None
        await task

    async def _run_lifespan(self, started: asyncio.Future[None]) -> None:
        try:
            async with self._lifespan():
                self.context = contextvars.copy_context()
                started.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
                return
            raise

    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        if self.contract is not None:
            async with self.contract.lifespan():
                yield
            return
        driver = self._asgi_lifespan = Lifespan(self.app, self.logger)
        await driver.startup()
        self.state = driver.state
        try:
            yield
        finally:
            await driver.shutdown()

    @property
    def lifespan_failed(self) -> bool:
        """Whether a plain ASGI app reported its lifespan shutdown as failed."""
        return self._asgi_lifespan is not None and self._asgi_lifespan.failed

    def grpc_transport(self) -> Any:
        """The app's gRPC transport (a Bastion App with gRPC methods), else None."""
        return self.contract.grpc_transport() if self.contract is not None else None

    def begin_shutdown(self) -> None:
        """Tell the app that shutdown began (readiness turns 503)."""
        if self.contract is not None:
            self.contract.begin_shutdown()

    def refusal(self, refusal: Refusal) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The headers and body of an error the server answers itself."""
        if self.contract is not None:
            return self.contract.refusal(refusal)
        return default_refusal(refusal)


def default_refusal(refusal: Refusal) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Bastion's JSON error shape for an app that does not render its own."""
    rid = refusal.request_id or new_id()
    body = error_body(refusal.name, new_id(), refusal.message,
                      temporary=refusal.temporary, timeout=refusal.timeout)
    headers = [(b"content-type", b"application/json"), (b"x-request-id", rid.encode("ascii"))]
    if refusal.retry_after is not None:
        headers.append((b"retry-after", str(refusal.retry_after).encode("ascii")))
    return headers, body
