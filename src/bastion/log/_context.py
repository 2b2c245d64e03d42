"""The context logger, Clue-style: structured lines whose fields follow the current context.

`log.info("processing order", order_id=o.id)` writes one line with the fields bound to the
current context (request id, service, method...) and, inside an OpenTelemetry span, its
`trace_id` and `span_id`. Context lives in a `contextvars.ContextVar` holding an immutable
state, so every asyncio task and thread sees its own fields and binding is copy-on-write.

`use(logger)` makes a Logger current for a context; a `RequestContext` scopes one
request. The only module state is a default Logger, created lazily from the
environment, for code running outside any `use`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from contextvars import Token
from types import TracebackType
from typing import Final, NoReturn

from bastion.errors import ConfigError
from bastion.log._format import DEBUG, ERROR, INFO, WARN
from bastion.log._logger import Logger
from bastion.log._state import STATE, Held, State, flat_values, span_context

__all__ = [
    "RequestContext",
    "bind",
    "current",
    "debug",
    "debug_enabled",
    "enter_request",
    "error",
    "fatal",
    "fields",
    "flush",
    "info",
    "leave_request",
    "print",
    "use",
    "warn",
]

# The Logger used where no `use(logger)` is active; created on first use, from the env.
_default_logger: Logger | None = None
_default_lock: Final = threading.Lock()


def _default() -> Logger:
    global _default_logger
    logger = _default_logger
    if logger is None:
        with _default_lock:
            logger = _default_logger
            if logger is None:
                try:
                    logger = Logger.from_env()
                except ConfigError as exc:
                    # A log call must not raise over a bad variable: say so and go on.
                    logger = Logger()
                    logger.write_line("warn", "invalid log configuration", {"err": exc})
                _default_logger = logger
    return logger


# -- context -----------------------------------------------------------------------------


@contextlib.contextmanager
def use(logger: Logger) -> Iterator[Logger]:
    """Make `logger` the one the module functions write to, for this context."""
    state = STATE.get()
    token = STATE.set(State(logger, state.fields, state.buffer, state.debug, state.flat))
    try:
        yield logger
    finally:
        STATE.reset(token)


def current() -> Logger:
    """Return the Logger active in this context (the lazily created default if none)."""
    return STATE.get().logger or _default()


class RequestContext(AbstractContextManager["RequestContext"]):
    """The logging context of one request: its Logger, fields, held lines and debug flag.

    `enter()` makes `logger` current (the context's, when None) with `fields` bound and,
    when the Logger buffers requests, a buffer for the request's lines; `leave(exc)`
    restores the previous context and, if the request failed (`exc` is an Exception),
    writes what it held. Transport middleware calls the two on its hot path; elsewhere
    use it as a `with` block: `with log.RequestContext(fields={"job": job_id}): ...`
    scopes a unit of work that is not a request (a queue message) the same way, with
    `debug=True` writing its debug lines (and holding none).
    """

    __slots__ = ("_debug", "_fields", "_held", "_logger", "_token")

    def __init__(
        self,
        logger: Logger | None = None,
        fields: Mapping[str, object] | None = None,
        *,
        debug: bool = False,
    ) -> None:
        self._logger = logger
        self._fields: Mapping[str, object] = fields or {}
        self._debug = debug
        self._held: Held | None = None
        self._token: Token[State] | None = None

    def enter(self) -> RequestContext:
        """Make this request's context current; return self."""
        state = STATE.get()
        logger = self._logger or state.logger or _default()
        self._logger = logger
        self._token, self._held = enter_request(logger, self._fields, self._debug, state)
        return self

    def leave(self, exc: BaseException | None = None) -> None:
        """Restore the context that was current before; write held lines on a failure."""
        if self._token is not None:
            leave_request(self._token, self._held, self._logger, exc)
            self._token = None

    def __enter__(self) -> RequestContext:
        return self.enter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.leave(exc)


def enter_request(
    logger: Logger,
    fields: Mapping[str, object],
    debug: bool,
    state: State | None = None,
    *,
    flat: bool | None = None,
) -> tuple[Token[State], Held | None]:
    """Make a request's context current: `logger`, `fields` bound, its held lines.

    Returns the token `leave_request` restores and the buffer of held lines (None when
    the Logger does not buffer, or the request is debugged). `state` is the current
    state when the caller has it; `flat=True` says no value of `fields` is a container
    (looked at otherwise). The request observer calls the pair on its hot path;
    `RequestContext` is the same pair as an object.
    """
    if state is None:
        state = STATE.get()
    merged = {**state.fields, **fields} if state.fields else fields
    flat = state.flat and (flat_values(fields) if flat is None else flat)
    debug = state.debug or debug
    held = None
    buffering = logger.buffering
    # A debugged request shows everything as it happens: no holding back.
    if buffering is not None and not debug:
        disable = buffering.disable
        if disable is None or not disable():
            held = Held(WARN if buffering.hold == "warn" else INFO)
    return STATE.set(State(logger, merged, held, debug, flat)), held


def leave_request(
    token: Token[State], held: Held | None, logger: Logger | None, exc: BaseException | None
) -> None:
    """Restore the context before `enter_request`; write the held lines on a failure."""
    STATE.reset(token)
    # An exception escaping the request is a failure even if nobody logged it: keep the
    # evidence. Cancellation is not a failure.
    if held is not None and logger is not None and isinstance(exc, Exception) \
            and not held.flushed:
        logger._release(held)


class _Fields(AbstractContextManager[None]):
    """Binds fields for a `with` block and restores the previous state on exit."""

    __slots__ = ("_fields", "_token")

    def __init__(self, fields: Mapping[str, object]) -> None:
        self._fields = fields
        self._token: Token[State] | None = None

    def __enter__(self) -> None:
        state = STATE.get()
        merged = {**state.fields, **self._fields} if state.fields else self._fields
        flat = state.flat and flat_values(self._fields)
        self._token = STATE.set(State(state.logger, merged, state.buffer, state.debug, flat))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            STATE.reset(self._token)


def fields(**kv: object) -> AbstractContextManager[None]:
    """Add `kv` to every line logged inside the `with` block; insertion order is kept."""
    return _Fields(kv)


def bind(**kv: object) -> None:
    """Add `kv` to every line logged from now on in this context (task, thread, scope).

    The binding ends with the innermost enclosing `fields()` block or request context.
    """
    state = STATE.get()
    STATE.set(State(state.logger, {**state.fields, **kv}, state.buffer, state.debug,
                    state.flat and flat_values(kv)))


def bind_call(service: str, method: str) -> bool:
    """`bind(service=..., method=...)` and `debug_enabled()` in one: the App's per-call layer.

    Returns whether a debug line would be written in the context it leaves behind.
    """
    state = STATE.get()
    merged = {**state.fields, "service": service, "method": method}
    STATE.set(State(state.logger, merged, state.buffer, state.debug, state.flat))
    return (state.logger or _default())._enabled(DEBUG, state)


def debug_enabled() -> bool:
    """Return whether a debug line would be written here (switch, level or request)."""
    state = STATE.get()
    return (state.logger or _default())._enabled(DEBUG, state)


def flush() -> None:
    """Write the lines this request holds and stop holding (Clue's FlushAndDisableBuffering).

    Does nothing outside a buffered request. It does not wait for the output: use
    `Logger.flush()` to block until lines are written.
    """
    state = STATE.get()
    held = state.buffer
    if held is not None and not held.flushed:
        (state.logger or _default())._release(held)


# -- logging functions -------------------------------------------------------------------


def debug(msg: str, **kv: object) -> None:
    """Log a debug line: written when the level, the debug switch or the request allow."""
    state = STATE.get()
    logger = state.logger or _default()
    if logger._enabled(DEBUG, state):
        logger._log(state, DEBUG, msg, None, kv)


def info(msg: str, **kv: object) -> None:
    """Log an info line with `kv` after the context's fields."""
    state = STATE.get()
    logger = state.logger or _default()
    if logger._enabled(INFO, state):
        logger._log(state, INFO, msg, None, kv)


def warn(msg: str, **kv: object) -> None:
    """Log a warn line; held by request buffering only when it holds warn (Clue's)."""
    state = STATE.get()
    logger = state.logger or _default()
    if logger._enabled(WARN, state):
        logger._log(state, WARN, msg, None, kv)


def error(err: BaseException | None, msg: str, **kv: object) -> None:
    """Log an error line with `err` under key `err`; writes the request's held lines first."""
    state = STATE.get()
    (state.logger or _default())._log(state, ERROR, msg, err, kv)


def fatal(err: BaseException | None, msg: str, **kv: object) -> NoReturn:
    """Log an error line, flush, and exit the process with status 1 at once.

    Like Go's `os.Exit`: `finally` blocks and atexit handlers do not run.
    """
    state = STATE.get()
    logger = state.logger or _default()
    logger._log(state, ERROR, msg, err, kv)
    logger.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(1)


def print(msg: str, **kv: object) -> None:
    """Write an info line whatever the level; never held back by request buffering."""
    state = STATE.get()
    logger = state.logger or _default()
    extra = logger._extra() if logger._file_location or logger._funcs else None
    logger._emit(
        (logger._clock(), INFO, msg, None, state.fields, kv, span_context(), extra),
        important=True,
    )

