"""The context logger, Clue-style: structured lines whose fields follow the current context.

`log.info("processing order", order_id=o.id)` writes one line with the fields bound to the
current context (request id, service, method...) and, inside an OpenTelemetry span, its
`trace_id` and `span_id`. Context lives in a `contextvars.ContextVar` holding an immutable
state, so every asyncio task and thread sees its own fields and binding is copy-on-write.

Run-time state (level, debug switch, stream, writer thread, drop counts) belongs to a
`Logger` the App owns; `use(logger)` makes it current for a context. The only module state
is a default Logger, created lazily from the environment, for code running outside one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from contextvars import Token
from types import TracebackType
from typing import Any, Final, NoReturn, TextIO

from opentelemetry import trace as otel_trace

from bastion.errors import ConfigError
from bastion.log._format import (
    DEBUG,
    ERROR,
    FORMATS,
    INFO,
    LEVEL_NAMES,
    LEVELS,
    RESERVED_KEYS,
    STANDARD_KEYS,
    WARN,
    Values,
    make_format,
)
from bastion.log._state import STATE, Entry, Held, State, span_context
from bastion.log._stdlib import StdlibHandler, route_stdlib
from bastion.log._writer import DEFAULT_INTERVAL, LineWriter, WriterStats

__all__ = [
    "Logger",
    "RequestContext",
    "StdlibHandler",
    "bind",
    "current",
    "debug",
    "debug_enabled",
    "error",
    "fatal",
    "fields",
    "info",
    "print",
    "request_scope",
    "route_stdlib",
    "use",
    "warn",
]

# Position of each standard key on a line.
_RANK: Final = {key: i for i, key in enumerate(STANDARD_KEYS)}
# Held lines per request beyond which more are counted, not kept: bounds memory per request.
_MAX_HELD: Final = 1000


class Logger:
    """Writes structured log lines: level, format, output stream and a background writer.

    `format=None` picks `terminal` when the stream is a TTY and `json` otherwise; `color=None`
    colours the terminal format only on a TTY. `buffer_requests=True` holds info and debug
    lines of a request until it logs an error (Clue's buffering). `sync=True` writes on the
    caller's thread (tests, golden output); otherwise at most `queue_size` lines wait for the
    writer thread, and when that queue is full lines below warn are dropped and counted.
    The writer gathers lines for `flush_interval` seconds and writes them in one call: an
    idle line is written at most that late, and a busy process writes once per interval.
    """

    def __init__(
        self,
        *,
        level: str = "info",
        format: str | None = None,
        stream: TextIO | None = None,
        max_value_size: int = 1024,
        buffer_requests: bool = False,
        clock: Callable[[], float] = time.time,
        service: str | None = None,
        color: bool | None = None,
        sync: bool = False,
        queue_size: int = 10_000,
        flush_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        problems = []
        if format is not None and format not in FORMATS:
            problems.append(f"log format {format!r}: use one of {', '.join(FORMATS)}")
        if _parse_level(level) is None:
            problems.append(f"log level {level!r}: use one of debug, info, warn, error")
        if max_value_size < 1:
            problems.append(f"max_value_size {max_value_size}: must be at least 1 byte")
        if queue_size < 1:
            problems.append(f"queue_size {queue_size}: must be at least 1 line")
        if not 0 <= flush_interval <= 60:
            problems.append(f"flush_interval {flush_interval}: use 0 to 60 seconds")
        if problems:
            raise ConfigError(problems)
        out = sys.stdout if stream is None else stream
        tty = _isatty(out)
        self._format = format or ("terminal" if tty else "json")
        self._rank = LEVELS[level.lower()]
        #: Run-time switch: when True debug lines are written whatever the level.
        self.debug_enabled = False
        #: Hold info/debug lines of a request until it logs an error (see request_scope).
        self.buffer_requests = buffer_requests
        #: Written as the `service` key of every line that does not set one.
        self.service = service
        self._clock = clock
        self._start = clock()
        self.max_value_size = max_value_size
        self._span_ids: tuple[object, str, str] = (None, "", "")
        render = make_format(
            self._format,
            Values(max_value_size),
            start=self._start,
            colour=tty if color is None else color,
        ).render
        self._render = render

        def drop_notice(count: int) -> str:
            return render(clock(), WARN, "log queue full: lines dropped", [("dropped", count)])

        self._writer = LineWriter(
            out, capacity=queue_size, sync=sync, drop_notice=drop_notice, interval=flush_interval
        )
        # Flush at exit or when this Logger is collected: neither holds a reference to it.
        weakref.finalize(self, self._writer.close)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **kw: Any) -> Logger:
        """Return a Logger configured by `kw`, where LOG_FORMAT and LOG_LEVEL override.

        LOG_FORMAT is auto, json, terminal or logfmt; LOG_LEVEL is debug, info, warn or error.
        NO_COLOR (any value) turns terminal colours off, FORCE_COLOR turns them on.
        """
        problems = []
        fmt = env.get("LOG_FORMAT", "").strip().lower()
        if fmt and fmt != "auto":  # auto: terminal on a TTY, JSON otherwise (the default)
            if fmt in FORMATS:
                kw["format"] = fmt
            else:
                problems.append(f"LOG_FORMAT={fmt!r}: use one of {', '.join(FORMATS)}")
        level = env.get("LOG_LEVEL", "").strip().lower()
        if level:
            if level in LEVELS:
                kw["level"] = level
            else:
                problems.append(f"LOG_LEVEL={level!r}: use one of debug, info, warn, error")
        if problems:
            raise ConfigError(problems)
        if env.get("NO_COLOR"):
            kw["color"] = False
        elif env.get("FORCE_COLOR"):
            kw["color"] = True
        return cls(**kw)

    @property
    def level(self) -> str:
        """The lowest level written: debug, info, warn or error."""
        return LEVEL_NAMES[self._rank]

    @level.setter
    def level(self, value: str) -> None:
        rank = _parse_level(value)
        if rank is None:
            raise ConfigError([f"log level {value!r}: use one of debug, info, warn, error"])
        self._rank = rank

    @property
    def format(self) -> str:
        """The line format in use: json, terminal or logfmt."""
        return self._format

    @property
    def dropped(self) -> int:
        """How many lines were dropped because the queue was full or the stream failed."""
        return self._writer.dropped

    @property
    def writer_stats(self) -> WriterStats:
        """What the writer did so far: lines, write calls, thread wake-ups, drops."""
        return self._writer.stats

    def flush(self) -> None:
        """Block until every line logged so far is written and the stream flushed."""
        self._writer.flush()

    def close(self) -> None:
        """Write what is queued and stop the writer thread; later lines are written directly."""
        self._writer.close()

    def write_line(self, level: str, msg: str, fields: Mapping[str, object]) -> None:
        """Write one line now if `level` is enabled: never held by request buffering.

        The line carries the current context's fields and trace ids, then `fields`. An
        error-level line writes a request's held lines first, as `log.error` does.
        """
        rank = LEVELS.get(level)
        if rank is None:
            rank = _parse_level(level)
        if rank is None:
            raise ValueError(f"log level {level!r}: use one of debug, info, warn, error")
        state = STATE.get()
        if self._enabled(rank, state):
            self._log(state, rank, msg, None, fields, hold=False)

    def __repr__(self) -> str:
        return f"<Logger level={self.level} format={self._format}>"

    # -- internals shared with the module functions below -------------------------------

    def write_info(self, msg: str, fields: Mapping[str, object]) -> None:
        """`write_line("info", ...)` for the per-request hot path: no level name to parse."""
        state = STATE.get()
        if self._rank <= INFO or self.debug_enabled or state.debug:
            self._log(state, INFO, msg, None, fields, hold=False)

    def _enabled(self, rank: int, state: State) -> bool:
        return rank >= self._rank or self.debug_enabled or state.debug

    def _log(
        self,
        state: State,
        rank: int,
        msg: object,
        err: object,
        kv: Mapping[str, object],
        *,
        hold: bool = True,
    ) -> None:
        t = self._clock()
        span = span_context()
        held = state.buffer
        if held is not None and not held.flushed:
            if rank < WARN and hold and not self.debug_enabled:
                if len(held.entries) < _MAX_HELD:
                    held.entries.append((t, rank, msg, err, state.fields, kv, span))
                else:
                    held.overflow += 1
                return
            if rank >= ERROR:
                self._release(held)
        self._emit(self._line((t, rank, msg, err, state.fields, kv, span)), important=rank >= WARN)

    def _release(self, held: Held) -> None:
        held.flushed = True
        for entry in held.entries:
            self._emit(self._line(entry), important=False)
        held.entries.clear()
        if held.overflow:
            self._emit(
                self._render(
                    self._clock(),
                    WARN,
                    "request log buffer full: lines dropped",
                    [("dropped", held.overflow)],
                ),
                important=True,
            )

    def _emit(self, line: str, *, important: bool) -> None:
        # Important lines wait for room in a full queue; the others are dropped and counted.
        self._writer.put(line, important=important)

    def _line(self, entry: Entry) -> str:
        t, rank, msg, err, context, kv, span = entry
        if not kv:
            merged = context
        elif not context:
            merged = kv
        else:
            merged = {**context, **kv}  # kv wins, keys keep their first position
        standard: dict[str, object] = {}
        rest: list[tuple[str, object]] = []
        for key, value in merged.items():
            if key in _RANK:
                standard[key] = value
            elif key in RESERVED_KEYS:
                rest.append(("fields." + key, value))
            else:
                rest.append((key, value))
        if err is not None:
            standard["err"] = err
        if span is not None:
            standard["trace_id"], standard["span_id"] = self._ids(span)
        if self.service is not None and "service" not in standard:
            standard["service"] = self.service
        if not standard:
            return self._render(t, rank, msg, rest)
        # Walking the dozen standard keys in order is cheaper than sorting by rank.
        pairs: list[tuple[str, object]] = [
            (key, standard[key]) for key in STANDARD_KEYS if key in standard
        ]
        pairs.extend(rest)
        return self._render(t, rank, msg, pairs)

    def _ids(self, span: otel_trace.SpanContext) -> tuple[str, str]:
        # Most lines in a row belong to the same span: format its ids once.
        cached = self._span_ids
        if cached[0] is not span:
            cached = (span, f"{span.trace_id:032x}", f"{span.span_id:016x}")
            self._span_ids = cached
        return cached[1], cached[2]


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


def _parse_level(level: str) -> int | None:
    return LEVELS.get(level.lower()) if isinstance(level, str) else None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except Exception:  # closed or exotic streams
        return False


# -- context -----------------------------------------------------------------------------


@contextlib.contextmanager
def use(logger: Logger) -> Iterator[Logger]:
    """Make `logger` the one the module functions write to, for this context."""
    state = STATE.get()
    token = STATE.set(State(logger, state.fields, state.buffer, state.debug))
    try:
        yield logger
    finally:
        STATE.reset(token)


def current() -> Logger:
    """Return the Logger active in this context (the lazily created default if none)."""
    return STATE.get().logger or _default()


class _Scope(AbstractContextManager[None]):
    """Sets a new state for a `with` block and restores the previous one on exit."""

    __slots__ = ("_debug", "_fields", "_request", "_token")

    def __init__(self, fields: Mapping[str, object], *, request: bool, debug: bool) -> None:
        self._fields = fields
        self._request = request
        self._debug = debug
        self._token: Token[State] | None = None

    def __enter__(self) -> None:
        state = STATE.get()
        merged = {**state.fields, **self._fields} if state.fields else self._fields
        if self._request:
            logger = state.logger or _default()
            debug = state.debug or self._debug
            # A debugged request shows everything as it happens: no holding back.
            held = Held() if logger.buffer_requests and not debug else None
            new = State(state.logger, merged, held, debug)
        else:
            new = State(state.logger, merged, state.buffer, state.debug)
        self._token = STATE.set(new)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state = STATE.get()
        if self._token is not None:
            STATE.reset(self._token)
        held = state.buffer if self._request else None
        # An exception escaping the request is a failure even if nobody logged it: keep
        # the evidence. Cancellation is not a failure.
        if held is not None and isinstance(exc, Exception) and not held.flushed:
            (state.logger or _default())._release(held)


def request_scope(*, debug: bool = False, **fields: object) -> AbstractContextManager[None]:
    """Scope one request: bind `fields`, hold info/debug lines if the Logger buffers.

    Used once per request by the HTTP middleware. `debug=True` writes debug lines for this
    request only (and disables holding). On exit the held lines are dropped, unless an
    exception escapes the scope: then they are written.
    """
    return _Scope(fields, request=True, debug=debug)


class RequestContext:
    """The logging context of one request, entered and left without a `with` block.

    For transport middleware on the hot path: `enter` makes `logger` current with `fields`
    bound (and buffering when the Logger holds request lines); `leave` restores the
    previous context and, if the request failed, writes what it held.
    """

    __slots__ = ("_held", "_logger", "_token")

    def __init__(self, logger: Logger, fields: Mapping[str, object], *, debug: bool) -> None:
        state = STATE.get()
        merged = {**state.fields, **fields} if state.fields else fields
        debug = state.debug or debug
        self._held = Held() if logger.buffer_requests and not debug else None
        self._logger = logger
        self._token = STATE.set(State(logger, merged, self._held, debug))

    def leave(self, exc: BaseException | None = None) -> None:
        """Restore the context that was current before; write held lines on a failure."""
        STATE.reset(self._token)
        held = self._held
        if held is not None and isinstance(exc, Exception) and not held.flushed:
            self._logger._release(held)


def fields(**kv: object) -> AbstractContextManager[None]:
    """Add `kv` to every line logged inside the `with` block; insertion order is kept."""
    return _Scope(kv, request=False, debug=False)


def bind(**kv: object) -> None:
    """Add `kv` to every line logged from now on in this context (task, thread, scope).

    The binding ends with the innermost enclosing `fields()` or `request_scope()` block.
    """
    state = STATE.get()
    STATE.set(State(state.logger, {**state.fields, **kv}, state.buffer, state.debug))


def debug_enabled() -> bool:
    """Return whether a debug line would be written here (switch, level or request)."""
    state = STATE.get()
    return (state.logger or _default())._enabled(DEBUG, state)


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
    """Log a warn line; never held back by request buffering."""
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
    logger._emit(
        logger._line((logger._clock(), INFO, msg, None, state.fields, kv, span_context())),
        important=True,
    )
