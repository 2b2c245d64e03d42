"""`--reload`: restart the server whenever a Python file under the working directory changes."""

from __future__ import annotations

import logging
import os

from bastion.config import Config
from bastion.errors import ConfigError

__all__ = ["run_with_reload"]

_log = logging.getLogger("bastion.server")


def run_with_reload(app_ref: str, config: Config) -> int:
    """Serve `app_ref` in a child process, restarted on every change; return 0 on Ctrl-C."""
    try:
        import watchfiles
    except ImportError:
        raise ConfigError(["--reload needs watchfiles: `pip install watchfiles`"]) from None

    def announce(changes: set[tuple[watchfiles.Change, str]]) -> None:
        names = sorted({os.path.relpath(path) for _, path in changes})
        _log.info("reloading: %s changed", ", ".join(names[:5]) + (" …" if len(names) > 5 else ""))

    _log.info("development mode: watching %s for changes", os.getcwd())
    watchfiles.run_process(
        os.getcwd(),
        target=reload_main,
        args=(app_ref, config),
        callback=announce,
        watch_filter=watchfiles.PythonFilter(),
    )
    return 0


def reload_main(app_ref: str, config: Config) -> None:
    """Entry point of the reloaded child: serve once, without reload."""
    # Imported here: this runs in a fresh child process.
    from bastion.server._run import run

    run(app_ref, config)
