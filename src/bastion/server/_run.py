"""`run` and `serve`: the entry points that turn an app and a configuration into a server."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from bastion._importer import import_from_string
from bastion.config import Config, load
from bastion.endpoint import ImplementationError
from bastion.errors import ConfigError, ImportStringError
from bastion.server._imports import import_string_for
from bastion.server._lifespan import LifespanError
from bastion.server._options import ServerOptions
from bastion.server._server import EXIT_CONFIG, EXIT_STARTUP, ListenError, Server, stderr_line
from bastion.server._tls import server_context
from bastion.types import ASGIApp, ServedApp

__all__ = ["run", "serve", "serve_in_process"]


def run(app: ASGIApp | str, config: Config | None = None, *, reload: bool = False) -> NoReturn:
    """Serve `app` (an ASGI app or "module:app") until SIGTERM or SIGINT; exit the process.

    The configuration is `config`, else the app's own `config` attribute when it is a
    `Config`, else `Config` read from the environment. A bad configuration prints every
    problem to stderr, without a traceback, and exits with status 2. The exit status is 0
    after a graceful shutdown, 1 after a second signal, 3 when the server cannot start.
    `reload` restarts the server when a Python file under the working directory changes
    (development only; it needs an import string or a module-level app).
    """
    try:
        target = import_from_string(app) if isinstance(app, str) else app
        if config is None:
            config = _config_of(target) or load(Config)
        options = ServerOptions.from_config(config)
        if options.tls_cert_file is not None and options.tls_key_file is not None:
            server_context(options.tls_cert_file, options.tls_key_file)  # fail before forking
        ref = app if isinstance(app, str) else None
        if (reload or options.workers > 1) and ref is None:
            ref = import_string_for(target)
            if ref is None:
                what = "--reload" if reload else f"WORKERS={options.workers}"
                raise ConfigError(
                    [f"{what} starts new processes, which must import the app: pass it as "
                     "'module:app', or define it at the top level of a module"]
                )
    except (ConfigError, ImportStringError) as exc:
        stderr_line(str(exc))
        sys.exit(EXIT_CONFIG)

    if reload and ref:
        # Imported here: watchfiles is needed only in development.
        from bastion.server._reload import run_with_reload

        sys.exit(run_with_reload(ref, config, target))
    if options.workers > 1 and ref:
        from bastion.server._workers import Supervisor

        sys.exit(Supervisor(target, ref, config, options).run())
    sys.exit(serve_in_process(target, options))


async def serve(
    app: ASGIApp,
    config: Config | ServerOptions | None = None,
    *,
    handle_signals: bool = True,
) -> int:
    """Serve `app` in the running event loop until a signal; return the exit status.

    For embedding and tests. Unlike `run`, a bad configuration raises ConfigError, the
    process is never exited (save by a second signal) and there are no workers.
    """
    if isinstance(config, ServerOptions):
        options = config
    else:
        options = ServerOptions.from_config(config or _config_of(app) or load(Config))
    return await Server(app, options).serve(handle_signals=handle_signals)


def serve_in_process(
    app: ASGIApp,
    options: ServerOptions,
    *,
    http_socket: socket.socket | None = None,
    admin_socket: socket.socket | None = None,
    announce: bool = True,
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
    worker: int | None = None,
) -> int:
    """Run one server on a new event loop (uvloop when installed); return the exit status."""
    server = Server(
        app,
        options,
        http_socket=http_socket,
        admin_socket=admin_socket,
        announce=announce,
        signals=signals,
        worker=worker,
    )
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(server.serve())
    except ConfigError as exc:
        stderr_line(str(exc))
        return EXIT_CONFIG
    except LifespanError as exc:
        return _not_serving(server, "the lifespan startup failed", err=str(exc))
    except ListenError as exc:
        return _not_serving(server, str(exc.strerror))
    except ImplementationError as exc:
        # The service does not match its design, or a transport it needs is not installed:
        # one line that says which, not a traceback.
        return _not_serving(server, str(exc))


def _not_serving(server: Server, why: str, **fields: Any) -> int:
    """Write why the server could not start, in the App's log format; the exit status."""
    server.served.log("error", f"not serving: {why}", **fields)
    server.served.logger.flush()
    return EXIT_STARTUP


def _config_of(app: Any) -> Config | None:
    # A ServedApp says which configuration it was made with; other ASGI apps have none.
    return app.config if isinstance(app, ServedApp) else None


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
