"""One serving process: the app behind Bastion's limits, its lifespan, signals and drain."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from typing import Protocol

from bastion.config import format_address, format_duration
from bastion.errors import ConfigError
from bastion.server._lifespan import Lifespan
from bastion.server._options import ServerOptions
from bastion.server._protocol import HeadLimits
from bastion.server._tls import server_context
from bastion.server._uvicorn import UvicornListener
from bastion.server.body_limit import BodyLimit
from bastion.server.concurrency import ConcurrencyLimit
from bastion.server.hsts import HSTS
from bastion.server.inflight import InFlight
from bastion.server.read_timeout import ReadTimeout
from bastion.server.write_timeout import WriteTimeout
from bastion.types import ASGIApp

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_STARTUP",
    "Server",
    "announce",
    "bind_socket",
    "guard",
    "stderr_line",
    "url_of",
]

_log = logging.getLogger("bastion.server")

#: Exit status of a graceful shutdown, of a forced one (second signal or a failed
#: shutdown), of a bad configuration, and of a server that could not start.
EXIT_OK, EXIT_FORCED, EXIT_CONFIG, EXIT_STARTUP = 0, 1, 2, 3


class _Listener(Protocol):
    @property
    def tasks(self) -> set[asyncio.Task[None]]: ...
    async def start(self) -> None: ...
    def stop_accepting(self) -> None: ...
    def close_idle(self) -> None: ...
    async def close(self) -> None: ...


def guard(
    app: ASGIApp,
    options: ServerOptions,
    inflight: InFlight,
    *,
    public: bool = True,
) -> ASGIApp:
    """Wrap `app` in the server's ASGI limits, outermost first.

    HSTS (on HTTPS, when configured) and the concurrency limit apply to the public API
    only (`public`); the write timeout, the body size limit and the body read timeout apply
    to every listener.
    """
    wrapped: ASGIApp = ReadTimeout(app, options.read_timeout)
    wrapped = BodyLimit(wrapped, options.max_body_bytes)
    wrapped = WriteTimeout(wrapped, options.write_timeout, inflight)
    if public and options.max_concurrency:
        wrapped = ConcurrencyLimit(wrapped, options.max_concurrency)
    if public and options.tls and options.hsts_max_age > 0:
        wrapped = HSTS(
            wrapped, options.hsts_max_age, include_subdomains=options.hsts_include_subdomains
        )
    return wrapped


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Return a listening TCP socket on host:port, shareable with worker processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Server:
    """Serve one app in this process until a signal, then shut down gracefully.

    `start()` runs the lifespan startup, then opens the API listener and, when the app has
    an `admin_app`, the admin one. On the first SIGTERM or SIGINT (or `begin_shutdown()`)
    readiness turns 503 at once through `app.begin_shutdown()`; after SHUTDOWN_DELAY the API
    listener closes; in-flight requests get SHUTDOWN_TIMEOUT to finish, then are cancelled
    and logged by request id; then the lifespan shutdown runs and the admin listener closes.
    A second signal exits the process at once with status 1.
    """

    def __init__(
        self,
        app: ASGIApp,
        options: ServerOptions | None = None,
        *,
        http_socket: socket.socket | None = None,
        admin_socket: socket.socket | None = None,
        announce: bool = True,
        signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
        worker: int | None = None,
    ) -> None:
        self.app = app
        self.options = options or ServerOptions()
        self.inflight = InFlight()
        self.lifespan = Lifespan(app)
        self.urls: dict[str, str] = {}
        self._http_socket = http_socket
        self._admin_socket = admin_socket
        self._announce = announce
        self._signals = signals
        self._worker = worker
        self._stopping = asyncio.Event()
        self._http: _Listener | None = None
        self._admin: UvicornListener | None = None
        self._shutdown_task: asyncio.Task[int] | None = None
        self._hook_task: asyncio.Future[object] | None = None

    @property
    def stopping(self) -> bool:
        """Whether shutdown has begun."""
        return self._stopping.is_set()

    async def serve(self, *, handle_signals: bool = True) -> int:
        """Start, serve until a signal or `begin_shutdown()`, shut down; return the exit status."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        # Signal handlers can only be set from the main thread; elsewhere the embedding
        # code calls begin_shutdown() itself. They are set before the startup, so a
        # SIGTERM during a slow startup still means a graceful shutdown.
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in self._signals:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
        try:
            await self.start()
            await self._stopping.wait()
            return await self.shutdown()
        except asyncio.CancelledError:
            # The embedding code gave up on us: release the sockets, skip the drain.
            await self._close_listeners()
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def start(self) -> None:
        """Run the lifespan startup, then open the listeners and announce them."""
        options = self.options
        ssl_context = None
        if options.tls_cert_file is not None and options.tls_key_file is not None:
            ssl_context = server_context(options.tls_cert_file, options.tls_key_file)
        await self.lifespan.startup()
        try:
            await self._open(ssl_context)
        except BaseException:
            await self._close_listeners()
            await self.lifespan.shutdown()
            raise
        if self._announce:
            announce(self.app, options, self.urls)
        elif self._worker is not None:
            _log.info("worker %d (pid %d) serving", self._worker, os.getpid())

    def begin_shutdown(self) -> None:
        """Start a graceful shutdown now, as a first signal does: readiness turns 503 first."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        hook = getattr(self.app, "begin_shutdown", None)
        if callable(hook):
            try:
                outcome = hook()
                if inspect.isawaitable(outcome):
                    self._hook_task = asyncio.ensure_future(outcome)
            except Exception:
                _log.exception("app.begin_shutdown() failed")

    async def shutdown(self) -> int:
        """Drain and stop; return 0, or 1 when the lifespan shutdown failed or hung.

        Safe to call more than once: later calls wait for the first.
        """
        if self._shutdown_task is None:
            self.begin_shutdown()
            self._shutdown_task = asyncio.ensure_future(self._shutdown())
        return await asyncio.shield(self._shutdown_task)

    async def _open(self, ssl_context: ssl.SSLContext | None) -> None:
        options = self.options
        limits = HeadLimits(options.read_header_timeout, options.max_header_bytes)
        with_guard = getattr(self.app, "with_guard", None)
        if callable(with_guard):
            # A Bastion App puts the limits inside its tracing and request log, so what
            # they answer is observed like every other response.
            api = with_guard(lambda inner: guard(inner, options, self.inflight))
        else:
            api = guard(self.app, options, self.inflight)
        if options.server == "granian":
            # Imported here so that Granian, an optional extra, loads only when chosen.
            from bastion.server._granian import GranianListener

            if options.http_port == 0:
                raise ConfigError(["HTTP_ADDR: SERVER='granian' needs an explicit port, not 0"])
            self._http = GranianListener(
                api,
                options.http_host,
                options.http_port,
                state=self.lifespan.state,
                read_header_timeout=options.read_header_timeout,
                max_header_bytes=options.max_header_bytes,
                backlog=options.backlog,
                tls_cert_file=options.tls_cert_file,
                tls_key_file=options.tls_key_file,
            )
            self.urls["api"] = self._url(options.http_host, options.http_port, ssl_context)
        else:
            sock = self._http_socket or bind_socket(
                options.http_host, options.http_port, options.backlog
            )
            self._http_socket = sock
            self._http = UvicornListener(
                api,
                sock,
                state=self.lifespan.state,
                head_limits=limits,
                idle_timeout=options.idle_timeout,
                backlog=options.backlog,
                ssl_context=ssl_context,
            )
            host, port = sock.getsockname()[:2]
            self.urls["api"] = self._url(host, port, ssl_context)
        await self._http.start()

        admin_app = getattr(self.app, "admin_app", None)
        if admin_app is not None and options.admin_host is not None:
            sock = self._admin_socket or bind_socket(
                options.admin_host, options.admin_port, options.backlog
            )
            self._admin_socket = sock
            self._admin = UvicornListener(
                guard(admin_app, options, InFlight(), public=False),
                sock,
                state=self.lifespan.state,
                head_limits=limits,
                idle_timeout=options.idle_timeout,
                backlog=options.backlog,
            )
            host, port = sock.getsockname()[:2]
            self.urls["admin"] = self._url(host, port, None)
            await self._admin.start()

        docs_path = getattr(self.app, "docs_path", None)
        if isinstance(docs_path, str) and docs_path:
            self.urls["docs"] = self.urls["api"] + docs_path
        openapi_path = getattr(self.app, "openapi_path", None)
        if isinstance(openapi_path, str) and openapi_path:
            self.urls["openapi"] = self.urls["api"] + openapi_path

    async def _shutdown(self) -> int:
        options = self.options
        if options.shutdown_delay > 0:
            await asyncio.sleep(options.shutdown_delay)
        if self._http is not None:
            self._http.stop_accepting()
            self._http.close_idle()
        _log.info(
            "listener closed; draining %d in-flight request(s) for up to SHUTDOWN_TIMEOUT=%s",
            len(self.inflight),
            format_duration(options.shutdown_timeout),
        )
        if not await self.inflight.wait_empty(options.shutdown_timeout):
            ids = self.inflight.cancel_all(
                f"still running after SHUTDOWN_TIMEOUT={format_duration(options.shutdown_timeout)}"
            )
            _log.warning(
                "cancelling %d request(s) still running after SHUTDOWN_TIMEOUT: %s",
                len(ids),
                ", ".join(ids),
                extra={"request_ids": ids},
            )
            await self.inflight.wait_empty(2.0)
        if self._http is not None:
            await self._http.close()

        status = EXIT_OK
        try:
            async with asyncio.timeout(max(options.shutdown_timeout, 5.0)):
                await self.lifespan.shutdown()
        except TimeoutError:
            _log.error("the lifespan shutdown did not finish in time; exiting without it")
            status = EXIT_FORCED
        if self.lifespan.failed:
            status = EXIT_FORCED
        if self._admin is not None:
            await self._admin.close()
        _last_line(self.app, "shutdown complete")
        return status

    async def _close_listeners(self) -> None:
        for listener in (self._http, self._admin):
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self._stopping.is_set():
            _log.info(
                "received %s: readiness is 503; closing the listener in %s, then draining "
                "for up to %s (send it again to exit at once)",
                sig.name,
                format_duration(self.options.shutdown_delay),
                format_duration(self.options.shutdown_timeout),
            )
            self.begin_shutdown()
            return
        _log.warning("received %s again: exiting now, without draining", sig.name)
        for handler in logging.getLogger().handlers + _log.handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os._exit(EXIT_FORCED)

    def _url(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> str:
        return url_of(host, port, tls=ssl_context is not None)


def announce(app: object, options: ServerOptions, urls: dict[str, str]) -> None:
    """Log the one startup line: the URLs served and the active limits; warn on plain HTTP."""
    title = getattr(app, "title", None)
    parts = [f"API {urls['api']}"]
    if "openapi" in urls:
        parts.append(f"OpenAPI {urls['openapi']}")
    if "docs" in urls:
        parts.append(f"docs {urls['docs']}")
    parts.append(f"admin {urls['admin']}" if "admin" in urls else "admin off")
    _log.info(
        "%sserving %s | server=%s workers=%d pid=%d | limits %s",
        f"{title}: " if isinstance(title, str) and title else "",
        ", ".join(parts),
        options.server,
        options.workers,
        os.getpid(),
        options.limits_summary(),
    )
    if not options.tls and not _is_loopback(options.http_host):
        _log.warning(
            "serving plain HTTP on %s, which is not a loopback address: terminate TLS "
            "in front of it, or set TLS_CERT_FILE and TLS_KEY_FILE",
            format_address(options.http_host, options.http_port),
        )


def url_of(host: str, port: int, *, tls: bool) -> str:
    """Return the base URL of a listener on host:port."""
    return f"{'https' if tls else 'http'}://{format_address(host, port)}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stderr_line(text: str) -> None:
    """Write one line to stderr, unbuffered; used where logging may not be set up."""
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def _last_line(app: object, message: str) -> None:
    # The app's lifespan has ended and unrouted stdlib logging: write through the app's
    # own logger when it has one, so the last line keeps the format of all the others.
    logger = getattr(app, "logger", None)
    write = getattr(logger, "write_line", None)
    if callable(write):
        write("info", message, {"logger": _log.name})
        flush = getattr(logger, "flush", None)
        if callable(flush):
            flush()
    else:
        _log.info(message)
