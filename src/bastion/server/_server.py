"""One serving process: the app's lifespan, its listeners, the signals and the drain."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import signal
import socket
import ssl
import sys
import threading
from typing import Final

from bastion.config import format_address, format_duration
from bastion.errors import BastionError
from bastion.server._app import Served
from bastion.server._grpc import GRPCListener
from bastion.server._http1 import GRACE
from bastion.server._lifespan import LifespanError
from bastion.server._listener import Limits, Listener, admin_limits
from bastion.server._options import ServerOptions
from bastion.server._tls import server_context
from bastion.types import ASGIApp

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_STARTUP",
    "ListenError",
    "Server",
    "bind_socket",
    "stderr_line",
    "url_of",
]

#: Exit status of a graceful shutdown, of a forced one (second signal or a failed
#: shutdown), of a bad configuration, and of a server that could not start.
EXIT_OK, EXIT_FORCED, EXIT_CONFIG, EXIT_STARTUP = 0, 1, 2, 3
#: Seconds between a worker's looks at whether its supervisor still lives.
_PARENT_POLL: Final = 0.5


class ListenError(BastionError, OSError):
    """An address cannot be listened on (in use, not available, no permission)."""


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on host:port, inheritable by worker processes.

    Raises `ListenError` naming the address and the reason when it cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = {
            errno.EADDRINUSE: "the address is already in use (is another server running?)",
            errno.EADDRNOTAVAIL: "the address is not available on this machine",
            errno.EACCES: "permission denied (ports below 1024 need privileges)",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        raise ListenError(exc.errno or 0, f"cannot listen on "
                          f"{format_address(host, port)}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def limits_of(options: ServerOptions) -> Limits:
    """The connection limits the options ask for."""
    hsts = b""
    if options.tls and options.hsts_max_age > 0:
        value = f"max-age={int(options.hsts_max_age)}"
        if options.hsts_include_subdomains:
            value += "; includeSubDomains"
        hsts = b"strict-transport-security: " + value.encode("ascii") + b"\r\n"
    return Limits(
        read_header_timeout=options.read_header_timeout,
        read_timeout=options.read_timeout,
        write_timeout=options.write_timeout,
        idle_timeout=options.idle_timeout,
        max_header_bytes=options.max_header_bytes,
        max_url_bytes=options.max_url_bytes,
        max_concurrency=options.max_concurrency,
        hsts=hsts,
        ws_max_message_bytes=options.ws_max_message_bytes,
        ws_ping_interval=options.ws_ping_interval,
        ws_idle_timeout=options.ws_idle_timeout,
    )


class Server:
    """Serve one app in this process until a signal, then shut down gracefully.

    `start()` runs the lifespan startup, then opens the API listener and the admin one
    (when the app has an admin app). On the first SIGTERM or SIGINT, or `begin_shutdown()`,
    readiness turns 503 at once; after SHUTDOWN_DELAY the API listener stops accepting
    (the connections the kernel accepted already are still served); in-flight requests
    and connections get SHUTDOWN_TIMEOUT to finish, then what still runs is cancelled and
    logged by request id; then the lifespan shutdown runs and the admin listener closes.
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
        self.served = Served(app)
        self.options = options or ServerOptions()
        self.urls: dict[str, str] = {}
        self._http_socket = http_socket
        self._admin_socket = admin_socket
        self._announce = announce
        self._signals = signals
        self._worker = worker
        self._stopping = asyncio.Event()
        self._api: Listener | None = None
        self._admin: Listener | None = None
        self._grpc: GRPCListener | None = None
        self._lifespan_started = False
        self._shutdown_task: asyncio.Task[int] | None = None
        self._orphan_watch: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        """Whether shutdown has begun."""
        return self._stopping.is_set()

    @property
    def api(self) -> Listener | None:
        """The API listener, once started."""
        return self._api

    async def serve(self, *, handle_signals: bool = True) -> int:
        """Start, serve until a signal or `begin_shutdown()`, shut down; return the status."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        # Set before the startup, so that a SIGTERM during a slow startup is graceful too.
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in self._signals:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            # A worker blocks SIGTERM until now: one that came while it started is
            # delivered here, to the handler.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, installed)
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
        try:
            await self.served.start()
        except LifespanError:
            raise
        except Exception as exc:
            raise LifespanError(f"lifespan startup failed: {type(exc).__name__}: {exc}") from exc
        self._lifespan_started = True
        try:
            await self._open(ssl_context)
        except BaseException:
            await self._close_listeners()
            await self.served.stop()
            raise
        if self._announce:
            announce(self.served, options, self.urls)
        elif self._worker is not None:
            self.served.log("info", "worker serving", worker=self._worker, pid=os.getpid())
            self._orphan_watch = asyncio.get_running_loop().create_task(self._watch_parent())

    async def _watch_parent(self) -> None:
        # A worker whose supervisor died (SIGKILL, OOM) would serve on unsupervised, with
        # nobody to stop it: once it is re-parented, it drains and exits as on SIGTERM.
        parent = os.getppid()
        while not self._stopping.is_set():
            await asyncio.sleep(_PARENT_POLL)
            if os.getppid() != parent:
                self.served.log("warn", "the supervisor is gone: draining and exiting",
                                worker=self._worker, parent=parent)
                self.begin_shutdown()
                return

    def begin_shutdown(self) -> None:
        """Start a graceful shutdown now, as a first signal does: readiness turns 503 first."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:
            self.served.begin_shutdown()
        except Exception as exc:
            self.served.log_error(exc, {}, "")

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
        limits = limits_of(options)
        sock = self._http_socket or bind_socket(options.http_host, options.http_port,
                                                options.backlog)
        self._http_socket = sock
        self._api = Listener(self.served, sock, app=self.served.app, limits=limits,
                             ssl_context=ssl_context, state=self.served.state,
                             backlog=options.backlog)
        await self._api.start()
        host, port = sock.getsockname()[:2]
        self.urls["api"] = url_of(host, port, tls=ssl_context is not None)
        for name, path in self.served.links.items():
            self.urls[name] = self.urls["api"] + path

        if self.served.admin_app is not None and options.admin_host is not None:
            admin = self._admin_socket or bind_socket(options.admin_host, options.admin_port,
                                                      options.backlog)
            self._admin_socket = admin
            self._admin = Listener(self.served, admin, app=self.served.admin_app,
                                   limits=admin_limits(limits), state=self.served.state,
                                   backlog=options.backlog)
            await self._admin.start()
            if admin.family == socket.AF_UNIX:
                self.urls["admin"] = f"unix:{admin.getsockname()}"  # a worker's private one
            else:
                host, port = admin.getsockname()[:2]
                self.urls["admin"] = url_of(host, port, tls=False)

        # The gRPC listener, when the app serves gRPC methods and GRPC_ADDR is set.
        # GRPC_ADDR="" switches it off: the grpc extra is then not needed.
        transport = self.served.grpc_transport() if options.grpc_host is not None else None
        if transport is not None:
            self._grpc = GRPCListener(transport, options, self.served.log)
            self.urls["grpc"] = await self._grpc.start(self.served.context.copy())

    async def _shutdown(self) -> int:
        options = self.options
        served = self.served
        if options.shutdown_delay > 0:
            await asyncio.sleep(options.shutdown_delay)
        # Both listeners drain at once, on the same SHUTDOWN_TIMEOUT.
        grpc_drain = None
        if self._grpc is not None:
            grpc_drain = asyncio.ensure_future(self._grpc.drain(options.shutdown_timeout, GRACE))
        api = self._api
        if api is not None:
            drained = await api.stop_accepting()
            api.begin_shutdown()
            served.log(
                "info",
                "listener closed; draining",
                requests=len(api.active),
                connections=len(api.connections),
                accepted_from_backlog=drained,
                shutdown_timeout=format_duration(options.shutdown_timeout),
            )
            if not await api.wait_closed(options.shutdown_timeout):
                ids = api.cancel_all("shutdown")
                if ids:
                    served.log("warn", "cancelling requests still running after SHUTDOWN_TIMEOUT",
                               request_ids=ids, count=len(ids))
                await api.wait_closed(GRACE + 1.0)
            await api.close()
        if grpc_drain is not None:
            await grpc_drain

        status = EXIT_OK
        if self._lifespan_started:
            try:
                async with asyncio.timeout(max(options.shutdown_timeout, 5.0)):
                    await self.served.stop()
            except TimeoutError:
                served.log("error", "the lifespan shutdown did not finish in time; exiting")
                status = EXIT_FORCED
            except Exception as exc:
                served.log_error(exc, {}, "")
                status = EXIT_FORCED
        if served.lifespan_failed:
            status = EXIT_FORCED
        if self._admin is not None:
            await self._admin.close()
        served.log("info", "shutdown complete", status=status)
        served.logger.flush()
        return status

    async def _close_listeners(self) -> None:
        for listener in (self._api, self._admin, self._grpc):
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self._stopping.is_set():
            self.served.log(
                "info",
                f"received {sig.name}: readiness is 503; draining (send it again to exit now)",
                shutdown_delay=format_duration(self.options.shutdown_delay),
                shutdown_timeout=format_duration(self.options.shutdown_timeout),
            )
            self.begin_shutdown()
            return
        self.served.log("warn", f"received {sig.name} again: exiting now, without draining")
        with contextlib.suppress(Exception):
            self.served.logger.flush()
        os._exit(EXIT_FORCED)


def announce(served: Served, options: ServerOptions, urls: dict[str, str]) -> None:
    """Log the one startup line: what is served, where, and the limits; warn on plain HTTP."""
    served.log(
        "info",
        f"{served.title + ': ' if served.title else ''}serving",
        **{f"url.{name}": url for name, url in urls.items()},
        workers=options.workers,
        pid=os.getpid(),
        limits=options.limits_summary(),
    )
    if not options.tls and not _is_loopback(options.http_host):
        served.log(
            "warn",
            "serving plain HTTP on an address that is not loopback: terminate TLS in front "
            "of it, or set TLS_CERT_FILE and TLS_KEY_FILE",
            address=format_address(options.http_host, options.http_port),
        )


def url_of(host: str, port: int, *, tls: bool) -> str:
    """The base URL of a listener on host:port."""
    return f"{'https' if tls else 'http'}://{format_address(host, port)}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stderr_line(text: str) -> None:
    """Write one line to stderr, unbuffered: for errors before any logger exists."""
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()
