"""A listening socket, its connections, the requests they run and the sweep of deadlines.

Every deadline of every connection is a number the listener's sweep compares with the
clock a few times a second (`tick`), so no request arms or cancels a timer of its own;
the sweep also formats the `Date` header once a second.

At shutdown the listener stops accepting, but first accepts what the kernel already
accepted for it (the connections waiting in the listen backlog) so that those requests
are read and served too, as Go's `Shutdown` serves connections that are new; only a
connection that sends nothing within `READ_HEADER_TIMEOUT` is closed without an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Final

from bastion.config import format_duration
from bastion.endpoint.lifetime import Lifetime
from bastion.errors import ClientDisconnected, MalformedBody, RequestTimeout
from bastion.server._app import Served
from bastion.server._http1 import GRACE, Connection, Exchange
from bastion.server._websocket import WebSocketSession
from bastion.types import ASGIApp, Refusal

__all__ = ["Limits", "Listener", "admin_limits"]

_ASGI: Final = {"version": "3.0", "spec_version": "2.4"}


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one listener's connections, in seconds and bytes."""

    read_header_timeout: float = 10.0
    read_timeout: float = 30.0
    write_timeout: float = 60.0
    idle_timeout: float = 120.0
    max_header_bytes: int = 1 << 20
    max_url_bytes: int = 16 << 10
    max_concurrency: int | None = None
    hsts: bytes = b""  # a whole `strict-transport-security` header line, or nothing
    ws_max_message_bytes: int = 1 << 20
    ws_ping_interval: float = 20.0
    ws_idle_timeout: float = 600.0

    @property
    def tick(self) -> float:
        """How often the sweep looks at deadlines: a tenth of the shortest one."""
        shortest = min(self.read_header_timeout, self.read_timeout, self.write_timeout,
                       self.idle_timeout, self.ws_ping_interval, self.ws_idle_timeout)
        return min(0.5, max(0.02, shortest / 10))


def admin_limits(limits: Limits) -> Limits:
    """The limits of an admin listener: no concurrency limit (probes must get through),
    no HSTS, and time for a CPU profile, which may run for minutes."""
    return dataclasses.replace(limits, max_concurrency=None, hsts=b"",
                               write_timeout=max(limits.write_timeout, 300.0))


class Listener:
    """Serve `app` on `sock` until `close`; `served` logs and renders the server's errors."""

    def __init__(
        self,
        served: Served,
        sock: socket.socket,
        *,
        app: ASGIApp,
        limits: Limits,
        ssl_context: ssl.SSLContext | None = None,
        state: dict[str, Any] | None = None,
        backlog: int = 2048,
    ) -> None:
        self.served = served
        self.app = app
        self.loop = asyncio.get_running_loop()
        self.limits = limits
        self.sock = sock
        self.ssl = ssl_context
        self.scheme = "https" if ssl_context is not None else "http"
        self.asgi_version = _ASGI
        self.state = state if state is not None else {}
        #: The end of every response head: Date (and HSTS), then the blank line.
        self.default_headers = b""
        self.connections: set[Connection] = set()
        self.active: set[Exchange] = set()
        self.sessions: set[WebSocketSession] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._closed.set()
        # Each request starts from a copy of the lifespan's context, never from the
        # request before it.
        self._base = served.context
        self._date_second = 0
        self._accepting = False
        self._backlog = backlog

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start accepting connections and sweeping deadlines."""
        self._refresh_date(time.time())
        # asyncio serves a duplicate of the socket, so that closing its server leaves the
        # listening socket open long enough to accept what waits in the backlog.
        self._server = await self.loop.create_server(
            self._connection,
            sock=self.sock.dup(),
            ssl=self.ssl,
            backlog=self._backlog,
            # A TLS handshake is bounded by the header deadline, which counts from accept.
            ssl_handshake_timeout=self.limits.read_header_timeout if self.ssl else None,
        )
        self._accepting = True
        self._sweeper = self.loop.create_task(self._sweep(), name="bastion-sweep")

    def _connection(self) -> Connection:
        return Connection(self)

    async def stop_accepting(self) -> int:
        """Stop accepting; serve the connections the kernel accepted already. Return them."""
        if not self._accepting:
            return 0
        self._accepting = False
        if self._server is not None:
            self._server.close()
        drained = 0
        sock = self.sock
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            while True:
                try:
                    client, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                drained += 1
                await self.loop.connect_accepted_socket(
                    self._connection,
                    client,
                    ssl=self.ssl,
                    ssl_handshake_timeout=self.limits.read_header_timeout if self.ssl else None,
                )
        with contextlib.suppress(OSError):
            sock.close()
        return drained

    def begin_shutdown(self) -> None:
        """Close idle connections; the others close after their current response."""
        for conn in list(self.connections):
            conn.begin_shutdown()

    async def wait_closed(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every connection to close; say whether they did."""
        try:
            async with asyncio.timeout(timeout):
                await self._closed.wait()
        except TimeoutError:
            return False
        return True

    def cancel_all(self, reason: str) -> list[str]:
        """Cancel every running request and stream for `reason`; return their request ids."""
        ids = []
        for exchange in list(self.active):
            if self.cancel(exchange, reason, force=True):
                ids.append(_request_id(exchange))
        for session in list(self.sessions):
            session.cancel_reason = reason
            if session.task is not None:
                session.task.cancel()
        return ids

    async def close(self) -> None:
        """Cut every connection, cancel what still runs and stop the sweep."""
        with contextlib.suppress(Exception):
            await self.stop_accepting()
        for conn in list(self.connections):
            conn.abort()
        tasks = [e.task for e in self.active if e.task is not None]
        tasks += [s.task for s in self.sessions if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # -- connections and requests -------------------------------------------------------------

    def connection_opened(self, conn: Connection) -> None:
        """Count a new connection."""
        self.connections.add(conn)
        self._closed.clear()
        if not self._accepting:
            # Accepted from the backlog during the shutdown: served once, then closed.
            conn.begin_shutdown()

    def connection_closed(self, conn: Connection) -> None:
        """Forget a closed connection."""
        self.connections.discard(conn)
        if not self.connections:
            self._closed.set()

    def at_capacity(self) -> bool:
        """Whether a new request would pass MAX_CONCURRENCY."""
        limit = self.limits.max_concurrency
        return limit is not None and len(self.active) >= limit

    def run(self, exchange: Exchange) -> None:
        """Run the app for `exchange` in a task of its own, in a fresh context."""
        remaining = exchange.write_deadline - self.loop.time()
        exchange.lifetime = Lifetime(time.monotonic() + remaining)
        self.active.add(exchange)
        exchange.task = self.loop.create_task(self._serve(exchange), context=self._base.copy())

    async def _serve(self, exchange: Exchange) -> None:
        try:
            await self.app(exchange.scope, exchange.receive, exchange.send)
        except asyncio.CancelledError:
            reason = exchange.cancel_reason
            if not reason:
                raise
            self.served.log("warn", f"request cancelled: {self.describe(reason)}", reason=reason,
                            request_id=_request_id(exchange),
                            **{"http.request.method": exchange.scope["method"],
                               "url.path": exchange.scope["path"]})
            self._answer_for_app(exchange, *_CANCELLED[reason])
        except RequestTimeout:
            self._answer_for_app(exchange, 408, "request_timeout",
                                 "the request body was not received within READ_TIMEOUT")
        except MalformedBody as exc:
            self._answer_for_app(exchange, 400, "bad_request", str(exc))
        except ClientDisconnected:
            pass
        except Exception as exc:
            self.served.log_error(exc, exchange.scope, _request_id(exchange))
            self._answer_for_app(exchange, 500, "internal",
                                 "an internal error occurred; quote the request id to operators")
        else:
            if not exchange.started and not exchange.conn.closed:
                self.served.log_error(
                    RuntimeError("the app returned without sending a response"),
                    exchange.scope, _request_id(exchange),
                )
                self._answer_for_app(exchange, 500, "internal",
                                     "the server sent no response; quote the request id")
        finally:
            self.active.discard(exchange)
            if exchange.lifetime is not None:
                exchange.lifetime.finish()
            exchange.conn.app_returned(exchange)
            exchange.release()

    def run_websocket(self, session: WebSocketSession) -> None:
        """Run the app for a WebSocket session, in a fresh context."""
        session.lifetime = Lifetime(None)
        self.sessions.add(session)
        session.task = self.loop.create_task(self._serve_ws(session), context=self._base.copy())

    async def _serve_ws(self, session: WebSocketSession) -> None:
        try:
            await self.app(session.scope, session.receive, session.send)
        except asyncio.CancelledError:
            if not session.cancel_reason:
                raise
            session.going_away()
        except ClientDisconnected:
            pass
        except Exception as exc:
            self.served.log_error(exc, session.scope, "")
            if session.accepted:
                session.close(1011, "internal error")
                session.conn.close_after(2.0)
            else:
                session.conn.refuse_upgrade(500, "internal",
                                            "the WebSocket could not be opened")
        else:
            if session.accepted and not session.closed:
                session.close(1000, "")
                session.conn.close_after(2.0)
            elif not session.accepted and not session.closed:
                session.close(1000, "")  # returned without accepting: refused (403)
        finally:
            self.sessions.discard(session)
            session.release()
            if session.lifetime is not None:
                session.lifetime.finish()

    def _answer_for_app(self, exchange: Exchange, status: int, name: str, message: str) -> None:
        # The app did not answer (a raw ASGI app, or one that failed): the server does.
        if exchange.started or exchange.conn.closed:
            return
        exchange.conn.refuse_for(exchange, status, name, message)

    def cancel(self, exchange: Exchange, reason: str, *, force: bool = False) -> bool:
        """Cancel the app serving `exchange`; False when it is committing (see Lifetime)."""
        if exchange.cancel_reason:
            return True
        lifetime = exchange.lifetime
        if lifetime is not None and not lifetime.cancel(reason) and not force:
            return False
        exchange.cancel_reason = reason
        exchange.cancelled_at = self.loop.time()
        exchange.conn.deadline = exchange.cancelled_at + GRACE
        if exchange.task is not None:
            exchange.task.cancel()
        return True

    def describe(self, reason: str) -> str:
        """Why a request was cancelled, naming the setting that decided it."""
        if reason == "write_timeout":
            return f"still running after WRITE_TIMEOUT={format_duration(self.limits.write_timeout)}"
        if reason == "shutdown":
            return "still running when the shutdown's drain ended (SHUTDOWN_TIMEOUT)"
        return reason

    def refuse(self, refusal: Refusal) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The headers and JSON body of an error the server answers itself (logged)."""
        return self.served.refusal(refusal)

    # -- the sweep ----------------------------------------------------------------------------

    async def _sweep(self) -> None:
        tick = self.limits.tick
        loop = self.loop
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            wall = time.time()
            if int(wall) != self._date_second:
                self._refresh_date(wall)
            for conn in list(self.connections):
                if now >= conn.deadline:
                    try:
                        conn.expire(now)
                    except Exception as exc:  # a bug must not stop every deadline
                        self.served.log_error(exc, {"type": "sweep"}, "")
                        conn.abort()

    def _refresh_date(self, wall: float) -> None:
        self._date_second = int(wall)
        date = formatdate(wall, usegmt=True).encode("ascii")
        self.default_headers = b"date: " + date + b"\r\n" + self.limits.hsts + b"\r\n"


_CANCELLED: Final[dict[str, tuple[int, str, str]]] = {
    "write_timeout": (503, "timeout", "the request was not answered within WRITE_TIMEOUT"),
    "shutdown": (503, "unavailable", "the server is shutting down; retry the request"),
}


def _request_id(exchange: Exchange) -> str:
    rid = exchange.scope.get("bastion.request_id")
    if isinstance(rid, str):
        return str(rid)
    headers: list[tuple[bytes, bytes]] = exchange.scope["headers"]
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("latin-1")[:128]
    return ""
