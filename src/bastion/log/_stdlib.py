"""Stdlib `logging` routed through a Logger, so library records look like the service's.

Routed records are redacted as Bastion's own lines are: the message and every text value
go through the Logger's `Redactor`, so a library that logs a URL or a header (httpx's
`HTTP Request: GET …?api_key=…`) never writes a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from bastion.log._format import DEBUG, ERROR, INFO, STACK_KEY, WARN, error_text
from bastion.log._stack import stack_text
from bastion.log._state import STATE
from bastion.redact import REDACTED

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
    `exception.stacktrace`. Levels map to debug, info, warn and error; records are held
    back in buffered requests like `log.info`. The message and text fields are redacted.
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
            redactor = logger.redactor
            kv: dict[str, object] = {"logger": record.name}
            for key, value in vars(record).items():
                if key not in _RECORD_ATTRS and not key.startswith("_"):
                    if redactor.is_sensitive(key):
                        kv[key] = REDACTED
                    elif isinstance(value, str):
                        kv[key] = redactor.text(value)
                    else:
                        kv[key] = value
            err: object = None
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                err = redactor.text(error_text(exc))
                kv[STACK_KEY] = redactor.text(stack_text(exc))
            elif record.stack_info:
                kv[STACK_KEY] = redactor.text(record.stack_info)
            logger._log(state, rank, redactor.text(record.getMessage()), err, kv)
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
