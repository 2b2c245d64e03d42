"""Stdlib `logging` routed through a Logger, so library records look like the service's."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from bastion.log._format import DEBUG, ERROR, INFO, WARN
from bastion.log._state import STATE

if TYPE_CHECKING:
    from bastion.log._logger import Logger

__all__ = ["StdlibHandler", "route_stdlib"]

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _rank(levelno: int) -> int:
    if levelno < logging.INFO:
        return DEBUG
    if levelno < logging.WARNING:
        return INFO
    if levelno < logging.ERROR:
        return WARN
    return ERROR  # critical too: the logger has no level above error


class StdlibHandler(logging.Handler):
    """A `logging.Handler` that writes records through a Logger, with context fields.

    Each line gets the same keys as `log.info`, the current context's fields (request_id…),
    `logger` (the record's logger name), any `extra=` fields, and for exceptions `err` and
    `stack`. Levels map to debug, info, warn and error; info and debug records are held
    back in buffered requests like `log.info`.
    """

    def __init__(self, logger: Logger, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        #: The Logger records are written through (not the context's: handlers are global).
        self.target = logger

    def emit(self, record: logging.LogRecord) -> None:
        """Write `record` through the target Logger."""
        try:
            rank = _rank(record.levelno)
            state = STATE.get()
            logger = self.target
            if not logger._enabled(rank, state):
                return
            kv: dict[str, object] = {"logger": record.name}
            for key, value in vars(record).items():
                if key not in _RECORD_ATTRS and not key.startswith("_"):
                    kv[key] = value
            err: BaseException | None = None
            if record.exc_info and record.exc_info[1] is not None:
                err = record.exc_info[1]
                kv["stack"] = "".join(traceback.format_exception(err)).rstrip()
            elif record.stack_info:
                kv["stack"] = record.stack_info
            logger._log(state, rank, record.getMessage(), err, kv)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def route_stdlib(logger: Logger, level: int = logging.INFO) -> Callable[[], None]:
    """Route stdlib `logging` through `logger`: install a StdlibHandler on the root logger.

    Sets the root level to `level`. Returns a function that removes the handler and
    restores the previous root level (calling it twice is harmless). Loggers that do not
    propagate to the root (uvicorn's, with its default config) are not routed.
    """
    root = logging.getLogger()
    handler = StdlibHandler(logger)
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    removed = False

    def uninstall() -> None:
        nonlocal removed
        if not removed:
            removed = True
            root.removeHandler(handler)
            root.setLevel(previous)

    return uninstall
