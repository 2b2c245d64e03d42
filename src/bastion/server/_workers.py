"""WORKERS=n: n processes serving the same port, restarted when one dies, drained together."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from bastion._importer import import_from_string
from bastion.config import Config
from bastion.errors import ConfigError, ImportStringError
from bastion.server._options import ServerOptions
from bastion.server._server import (
    EXIT_CONFIG,
    EXIT_FORCED,
    EXIT_OK,
    EXIT_STARTUP,
    announce,
    bind_socket,
    stderr_line,
    url_of,
)

__all__ = ["Supervisor"]

_log = logging.getLogger("bastion.server")
# A worker that dies sooner than this after it started is restarted no sooner than this.
_RESPAWN_BACKOFF = 1.0


class Supervisor:
    """The parent of WORKERS processes: it holds the sockets and relays signals.

    Each worker imports the app itself (its own telemetry, its own state) and serves the
    sockets the parent bound, so every worker accepts on the same port. A worker that dies
    is replaced; one that fails to start stops the whole server, since its replacement
    would fail the same way. On SIGTERM or SIGINT every worker gets SIGTERM and drains on
    its own; a second signal kills them all and exits with status 1.
    """

    def __init__(self, app: object, app_ref: str, config: Config, options: ServerOptions) -> None:
        self.app = app
        self.app_ref = app_ref
        self.config = config
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._started_at: list[float] = []
        self._sockets: list[socket.socket | None] = [None, None]
        self._stopping = False

    def run(self) -> int:
        """Start the workers and supervise them until a signal; return the exit status."""
        options = self.options
        urls: dict[str, str] = {}
        if options.server == "uvicorn":
            http = bind_socket(options.http_host, options.http_port, options.backlog)
            self._sockets[0] = http
            host, port = http.getsockname()[:2]
            urls["api"] = url_of(host, port, tls=options.tls)
        else:
            # Granian binds with SO_REUSEPORT in each worker: the parent holds nothing.
            urls["api"] = url_of(options.http_host, options.http_port, tls=options.tls)
        if getattr(self.app, "admin_app", None) is not None and options.admin_host is not None:
            admin = bind_socket(options.admin_host, options.admin_port, options.backlog)
            self._sockets[1] = admin
            host, port = admin.getsockname()[:2]
            urls["admin"] = url_of(host, port, tls=False)
        docs_path = getattr(self.app, "docs_path", None)
        if isinstance(docs_path, str) and docs_path:
            urls["docs"] = urls["api"] + docs_path

        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for index in range(options.workers):
                self._processes.append(self._spawn(index))
                self._started_at.append(time.monotonic())
            announce(self.app, options, urls)
            status = self._supervise()
            return self._drain() if status is None else status
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_sockets()

    def _spawn(self, index: int) -> BaseProcess:
        process = self._context.Process(
            target=worker_main,
            args=(self.app_ref, self.config, self._sockets[0], self._sockets[1], index),
            name=f"bastion-worker-{index}",
        )
        process.start()
        _log.info("worker %d started (pid %s)", index, process.pid)
        return process

    def _supervise(self) -> int | None:
        while not self._stopping:
            time.sleep(0.2)
            for index, process in enumerate(self._processes):
                if self._stopping or process.is_alive():
                    continue
                code = process.exitcode
                if code in (EXIT_CONFIG, EXIT_STARTUP):
                    _log.error("worker %d failed to start (status %s): stopping", index, code)
                    self._stop_all(signal.SIGTERM)
                    self._join_all()
                    return int(code) if code is not None else EXIT_STARTUP
                wait = self._started_at[index] + _RESPAWN_BACKOFF - time.monotonic()
                if wait > 0:
                    continue  # it died young: try again after the backoff
                _log.warning(
                    "worker %d (pid %s) exited with status %s: starting a new one",
                    index, process.pid, code,
                )
                self._processes[index] = self._spawn(index)
                self._started_at[index] = time.monotonic()
        return None

    def _drain(self) -> int:
        self._stop_all(signal.SIGTERM)
        # The parent's copies of the sockets go now: once the workers close theirs after
        # SHUTDOWN_DELAY, the port refuses new connections.
        self._close_sockets()
        self._join_all()
        codes = [p.exitcode for p in self._processes]
        _log.info("all workers stopped (statuses %s)", codes)
        return EXIT_OK if all(code == 0 for code in codes) else EXIT_FORCED

    def _stop_all(self, sig: signal.Signals) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, sig)

    def _join_all(self) -> None:
        for process in self._processes:
            process.join()

    def _close_sockets(self) -> None:
        for index, sock in enumerate(self._sockets):
            if sock is not None:
                sock.close()
                self._sockets[index] = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            self._stopping = True
            _log.info(
                "received %s: draining %d worker(s) (send it again to exit at once)",
                signal.Signals(signum).name, len(self._processes),
            )
            return
        _log.warning("received %s again: killing the workers", signal.Signals(signum).name)
        self._stop_all(signal.SIGKILL)
        os._exit(EXIT_FORCED)


def worker_main(
    app_ref: str,
    config: Config,
    http_socket: socket.socket | None,
    admin_socket: socket.socket | None,
    index: int,
) -> None:
    """Entry point of one worker process: import the app and serve the shared sockets."""
    # Imported here: the module that runs a server imports this one.
    from bastion.server._run import ensure_logging, serve_in_process

    os.environ["BASTION_WORKER_ID"] = str(index)
    # Ctrl-C reaches the whole process group; the parent relays it as SIGTERM, once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ensure_logging(config)
    try:
        app = import_from_string(app_ref)
    except (ConfigError, ImportStringError) as exc:
        stderr_line(str(exc))
        raise SystemExit(EXIT_CONFIG) from None
    options = ServerOptions.from_config(config)
    raise SystemExit(
        serve_in_process(
            app,
            options,
            http_socket=http_socket,
            admin_socket=admin_socket,
            announce=False,
            signals=(signal.SIGTERM,),
            worker=index,
        )
    )
