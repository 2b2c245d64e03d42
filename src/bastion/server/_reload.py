"""`--reload`: restart the server whenever a Python file under the working directory changes."""

from __future__ import annotations

import os

from bastion.config import Config
from bastion.errors import ConfigError
from bastion.log import Logger, route_stdlib
from bastion.types import ServedApp

__all__ = ["run_with_reload"]


def run_with_reload(app_ref: str, config: Config, app: object = None) -> int:
    """Serve `app_ref` in a child process, restarted on every change; return 0 on Ctrl-C.

    The watcher's own lines, and those watchfiles logs, are written by the app's logger,
    so development output keeps one format.
    """
    try:
        import watchfiles
    except ImportError:
        raise ConfigError(["--reload needs watchfiles: `pip install watchfiles`"]) from None
    logger = app.logger if isinstance(app, ServedApp) else Logger.from_env()
    uninstall = route_stdlib(logger)

    def announce(changes: set[tuple[watchfiles.Change, str]]) -> None:
        names = sorted({os.path.relpath(path) for _, path in changes})
        logger.write_line("info", "reloading", {"changed": names[:5], "count": len(names)})

    logger.write_line("info", "development mode: watching for changes", {"dir": os.getcwd()})
    try:
        watchfiles.run_process(
            os.getcwd(),
            target=reload_main,
            args=(app_ref, config),
            callback=announce,
            watch_filter=watchfiles.PythonFilter(),
        )
    finally:
        uninstall()
        logger.flush()
    return 0


def reload_main(app_ref: str, config: Config) -> None:
    """Entry point of the reloaded child: serve once, without reload."""
    # Imported here: this runs in a fresh child process.
    from bastion.server._run import run

    run(app_ref, config)
