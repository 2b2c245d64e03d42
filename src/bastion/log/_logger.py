"""The Logger: what a line looks like, where it goes, and which lines a request holds.

Run-time state (level, debug switch, outputs, writer threads, drop counts) belongs to a
`Logger` the App owns; the functions of `bastion.log._context` write through the one
current in a context. `Buffering` and `Output` are its options' types.
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TextIO

from opentelemetry import trace as otel_trace

from bastion.errors import ConfigError
from bastion.log._compiled import CompiledJSON
from bastion.log._format import (
    CONTAINERS,
    ERROR,
    FORMATS,
    INFO,
    KEY_PRESETS,
    LEVEL_NAMES,
    LEVELS,
    RESERVED_KEYS,
    STANDARD_KEYS,
    WARN,
    FormatFunc,
    JSONFormat,
    Keys,
    Values,
    make_format,
)
from bastion.log._stack import DEFAULT_STACK_SIZE
from bastion.log._state import STATE, Call, Held, State, span_context, span_ids
from bastion.log._writer import DEFAULT_INTERVAL, LineWriter, WriterStats
from bastion.redact import Redactor

__all__ = ["Buffering", "KeyFunc", "Logger", "Output", "is_tracing", "split_names"]

# Position of each standard key on a line.
_RANK: Final = {key: i for i, key in enumerate(STANDARD_KEYS)}
# Held lines per request beyond which more are counted, not kept: bounds memory per request.
_MAX_HELD: Final = 1000
_LOG_PACKAGE: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep

#: Called for every entry; returns pairs added at the end of the line (Clue's `WithFunc`).
KeyFunc = Callable[[], "Mapping[str, object] | Iterable[tuple[str, object]]"]


def is_tracing() -> bool:
    """Return whether the current request's span is sampled: its trace will be kept.

    Clue's `IsTracing` asks whether the context has a span at all; every Bastion request
    has one (not sampled ones included), so sampled is the useful question here.
    """
    span = otel_trace.get_current_span().get_span_context()
    return span.is_valid and span.trace_flags.sampled


@dataclass(frozen=True)
class Buffering:
    """Which lines a request holds back until it logs an error or calls `log.flush()`.

    `hold` is the highest level held: "info" (info and debug; Bastion's buffering) or
    "warn" (info, debug and warn; Clue's). `disable(...)`, asked when the request starts,
    turns holding off for that request: `Buffering.CLUE` uses `is_tracing`, as Clue's
    `WithDisableBuffering(IsTracing)` does, so a sampled request logs like its trace.
    """

    hold: str = "info"
    disable: Callable[[], bool] | None = None

    BASTION: ClassVar[Buffering]
    CLUE: ClassVar[Buffering]

    def __post_init__(self) -> None:
        if self.hold not in ("info", "warn"):
            raise ConfigError([f"buffering hold {self.hold!r}: use info or warn"])


Buffering.BASTION = Buffering()
Buffering.CLUE = Buffering(hold="warn", disable=is_tracing)


@dataclass(frozen=True)
class Output:
    """One destination of a Logger: a stream and its own format (Clue's `Output`).

    `format` is json, terminal, logfmt, a function taking an `Entry`, or None (terminal on
    a TTY, JSON otherwise); `color=None` colours the terminal format only on a TTY.
    """

    stream: TextIO | None = None
    format: str | FormatFunc | None = None
    color: bool | None = None


#: `_log`'s default span: look the current one up (an invalid context is never passed).
_CURRENT_SPAN: Final = otel_trace.INVALID_SPAN_CONTEXT


class Logger:
    """Writes structured log lines: level, formats, outputs and background writers.

    Where: `stream` and `format` (json, terminal, logfmt or a function taking an
    `Entry`; None is terminal on a TTY, JSON otherwise), or several `outputs`, each with
    its own format. `color=None` colours the terminal format only on a TTY. `keys` renames
    keys and level words: a `Keys`, a mapping, or the presets "gcp" and "ecs".

    What: `max_value_size` bytes per value (`max_stack_size` for `exception.stacktrace`),
    `max_items` items per list or dict value, `max_keys` keys per line; `file_location`
    adds `file` (dir/file.py:line of the caller); `funcs` add pairs to every entry;
    `redact` adds names whose values routed library lines never show.

    When: `buffer_requests` holds a request's lines until it logs an error (True or
    `Buffering.BASTION`: info and debug; `Buffering.CLUE`: warn too, and nothing held in a
    sampled request). `sync=True` writes on the caller's thread (tests, golden output);
    otherwise at most `queue_size` lines wait for a writer thread, and when that queue is
    full lines below warn are dropped and counted. The writer gathers lines for
    `flush_interval` seconds and writes them in one call: an idle line is written at most
    that late, and a busy process writes once per interval.
    """

    def __init__(
        self,
        *,
        level: str = "info",
        format: str | FormatFunc | None = None,
        stream: TextIO | None = None,
        outputs: Sequence[Output] | None = None,
        max_value_size: int = 1024,
        max_stack_size: int = DEFAULT_STACK_SIZE,
        max_items: int = 100,
        max_keys: int = 100,
        buffer_requests: bool | Buffering = False,
        clock: Callable[[], float] = time.time,
        service: str | None = None,
        color: bool | None = None,
        sync: bool = False,
        queue_size: int = 10_000,
        flush_interval: float = DEFAULT_INTERVAL,
        keys: Keys | Mapping[str, str] | str | None = None,
        file_location: bool = False,
        funcs: Iterable[KeyFunc] = (),
        redact: Iterable[str] = (),
    ) -> None:
        problems = []
        if outputs is not None and (stream is not None or format is not None):
            problems.append("outputs: give either outputs or stream/format, not both")
        wanted = [Output(stream, format, color)] if outputs is None else list(outputs)
        if not wanted:
            problems.append("outputs: give at least one output")
        for out in wanted:
            if out.format is not None and not callable(out.format) and out.format not in FORMATS:
                problems.append(f"log format {out.format!r}: use one of {', '.join(FORMATS)}")
        if _parse_level(level) is None:
            problems.append(f"log level {level!r}: use one of debug, info, warn, error")
        for name, value in (("max_value_size", max_value_size), ("max_items", max_items),
                            ("max_keys", max_keys), ("queue_size", queue_size)):
            if value < 1:
                problems.append(f"{name} {value}: must be at least 1")
        if not 0 <= flush_interval <= 60:
            problems.append(f"flush_interval {flush_interval}: use 0 to 60 seconds")
        if isinstance(keys, str) and keys.lower() not in KEY_PRESETS:
            problems.append(f"log keys {keys!r}: use one of {', '.join(KEY_PRESETS)}")
        if problems:
            raise ConfigError(problems)
        if isinstance(keys, str):
            keys = KEY_PRESETS[keys.lower()]
        elif keys is not None and not isinstance(keys, Keys):
            keys = Keys(rename=dict(keys))
        self.keys: Keys = keys or Keys()
        # Renames of keys other than time/level/msg, applied to each line's pairs.
        self._rename = {k: v for k, v in self.keys.rename.items() if k not in RESERVED_KEYS}
        self._rank = LEVELS[level.lower()]
        #: Run-time switch: when True debug lines are written whatever the level.
        self.debug_enabled = False
        if buffer_requests is True:
            buffer_requests = Buffering.BASTION
        #: How requests hold their lines back (None: they do not).
        self.buffering: Buffering | None = buffer_requests or None
        #: Written as the `service.name` key of every line that does not set one.
        self.service = service
        #: The names whose values routed library lines and client lines never show.
        self.redactor = Redactor(redact)
        self._clock = clock
        self._start = clock()
        self.max_value_size = max_value_size
        self.max_keys = max_keys
        self._file_location = file_location
        self._funcs = tuple(funcs)
        self._span_ids: tuple[object, str, str] = (None, "", "")
        values = Values(max_value_size, max_items=max_items, stack_size=max_stack_size)
        self._values = values
        self._outputs: list[tuple[Callable[..., str], LineWriter]] = []
        formats: list[str] = []
        for out in wanted:
            target = sys.stdout if out.stream is None else out.stream
            tty = _isatty(target)
            fmt = out.format or ("terminal" if tty else "json")
            formats.append(fmt if isinstance(fmt, str) else "custom")
            render = make_format(
                fmt,
                values,
                start=self._start,
                colour=tty if out.color is None else out.color,
                keys=self.keys,
            ).render
            writer = LineWriter(
                target,
                capacity=queue_size,
                sync=sync,
                drop_notice=_drop_notice(render, clock),
                interval=flush_interval,
            )
            self._outputs.append((render, writer))
            # Flush at exit or when this Logger is collected: neither holds a reference to it.
            weakref.finalize(self, writer.close)
        self._formats = formats
        self._render, self._writer = self._outputs[0]
        self._single = len(self._outputs) == 1
        # Lines of the common shape skip the general merge (see _compiled); a format of
        # its own, renamed keys or added pairs need the general path for every line.
        first = getattr(self._render, "__self__", None)
        self._compiled: CompiledJSON | None = None
        if (self._single and isinstance(first, JSONFormat) and not self._rename
                and not file_location and not self._funcs):
            self._compiled = CompiledJSON(first, max_keys=max_keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **kw: Any) -> Logger:
        """Return a Logger configured by `kw`, where the LOG_* variables override.

        LOG_FORMAT is auto, json, terminal or logfmt; LOG_LEVEL is debug, info, warn or
        error; LOG_KEYS is default, gcp or ecs; LOG_REDACT adds names to redact
        (comma-separated). NO_COLOR (any value) turns terminal colours off, FORCE_COLOR on.
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
        keys = env.get("LOG_KEYS", "").strip().lower()
        if keys:
            if keys in KEY_PRESETS:
                kw["keys"] = keys
            else:
                problems.append(f"LOG_KEYS={keys!r}: use one of {', '.join(KEY_PRESETS)}")
        names = split_names(env.get("LOG_REDACT", ""))
        if names:
            kw["redact"] = (*kw.get("redact", ()), *names)
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
        """The first output's format: json, terminal, logfmt or custom."""
        return self._formats[0]

    @property
    def buffer_requests(self) -> bool:
        """Whether requests hold their lines back (see `buffering`)."""
        return self.buffering is not None

    @buffer_requests.setter
    def buffer_requests(self, value: bool | Buffering) -> None:
        self.buffering = Buffering.BASTION if value is True else value or None

    @property
    def dropped(self) -> int:
        """How many lines were dropped because a queue was full or a stream failed."""
        return sum(writer.dropped for _, writer in self._outputs)

    @property
    def writer_stats(self) -> WriterStats:
        """What the writers did so far: lines, write calls, thread wake-ups, drops."""
        stats = [writer.stats for _, writer in self._outputs]
        return WriterStats(*(sum(column) for column in zip(*stats, strict=True)))

    def flush(self) -> None:
        """Block until every line logged so far is written and the streams flushed."""
        for _, writer in self._outputs:
            writer.flush()

    def close(self) -> None:
        """Write what is queued and stop the writer threads; later lines are written directly."""
        for _, writer in self._outputs:
            writer.close()

    def write_line(self, level: str, msg: str, fields: Mapping[str, object]) -> None:
        """Write one line now if `level` is enabled: never held by request buffering.

        The line carries the current context's fields and trace ids, then `fields`. An
        error-level line writes a request's held lines first, as `log.error` does.
        """
        rank = LEVELS.get(level)
        if rank is None:
            rank = _parse_level(level)
        if rank is None:
            raise ConfigError([f"log level {level!r}: use one of debug, info, warn, error"])
        state = STATE.get()
        if self._enabled(rank, state):
            self._log(state, rank, msg, None, fields, hold=False)

    def __repr__(self) -> str:
        return f"<Logger level={self.level} format={self.format}>"

    # -- internals shared with the module functions below -------------------------------

    def write_info(self, msg: str, fields: Mapping[str, object], *, hold: bool = False) -> None:
        """`write_line("info", ...)` for the per-request hot path: no level name to parse.

        `hold=True` lets request buffering hold the line, as `log.info` would.
        """
        state = STATE.get()
        if self._rank <= INFO or self.debug_enabled or state.debug:
            self._log(state, INFO, msg, None, fields, hold=hold)

    def request_line(
        self,
        msg: str,
        keys: tuple[str, ...],
        values: tuple[object, ...],
        span: otel_trace.SpanContext | None,
        *,
        hold: bool = False,
    ) -> None:
        """An info line of the request observer, whose span context is known: `start`, `end`.

        The same line as `write_info` with the pairs `zip(keys, values)`, without looking
        the span up again. `keys` are distinct and, for the compiled path, a tuple the
        caller keeps (a line shape); `values` are only strings and numbers (the observer's
        own values).
        """
        state = STATE.get()
        if not (self._rank <= INFO or self.debug_enabled or state.debug):
            return
        compiled = self._compiled  # None with `file` or key functions: the general path
        held = state.buffer
        if compiled is None or not state.flat or (hold and held is not None and not held.flushed):
            self._log(state, INFO, msg, None, dict(zip(keys, values, strict=True)), hold=hold,
                      span=span)
            return
        line = compiled.fixed_line(self._clock(), INFO, msg, state.fields, keys, values, span,
                                   self.service)
        if line is not None:
            self._writer.put(line, important=False)
        else:
            self._emit((self._clock(), INFO, msg, None, state.fields,
                        dict(zip(keys, values, strict=True)), span, None), important=False)

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
        span: otel_trace.SpanContext | None = _CURRENT_SPAN,
    ) -> None:
        t = self._clock()
        if span is _CURRENT_SPAN:  # not given: the current span's
            span = span_context()
        extra = self._extra() if self._file_location or self._funcs else None
        held = state.buffer
        if held is not None and not held.flushed:
            if rank <= held.up_to and hold and not self.debug_enabled:
                if len(held.entries) < _MAX_HELD:
                    held.entries.append((t, rank, msg, err, state.fields, kv, span, extra))
                else:
                    held.overflow += 1
                return
            if rank >= ERROR:
                self._release(held)
        self._emit((t, rank, msg, err, state.fields, kv, span, extra), important=rank >= WARN)

    def _extra(self) -> list[tuple[str, object]]:
        pairs: list[tuple[str, object]] = []
        if self._file_location:
            pairs.append(("file", _caller()))
        for fn in self._funcs:
            try:
                got = fn()
                pairs.extend(got.items() if isinstance(got, Mapping) else got)
            except Exception as exc:  # a broken key function must not lose the line
                pairs.append(("log.func_error", exc))
        return pairs

    def _release(self, held: Held) -> None:
        held.flushed = True
        for entry in held.entries:
            self._emit(entry, important=False)
        held.entries.clear()
        if held.overflow:
            self._emit(
                (self._clock(), WARN, "request log buffer full: lines dropped", None, {},
                 {"dropped": held.overflow}, None, None),
                important=True,
            )

    def _emit(self, call: Call, *, important: bool) -> None:
        # Important lines wait for room in a full queue; the others are dropped and counted.
        compiled = self._compiled
        if compiled is not None and call[3] is None and call[7] is None:
            line = compiled.line(call[0], call[1], call[2], call[4], call[5], call[6],
                                 self.service)
            if line is not None:
                self._writer.put(line, important=important)
                return
        t, rank, msg, pairs = self._pairs(call)
        if self._single:
            self._writer.put(self._render(t, rank, msg, pairs), important=important)
            return
        for render, writer in self._outputs:
            writer.put(render(t, rank, msg, pairs), important=important)

    def _pairs(self, call: Call) -> tuple[float, int, object, list[tuple[str, object]]]:
        t, rank, msg, err, context, kv, span, extra = call
        if not kv:
            merged = context
        elif not context:
            merged = kv
        else:
            merged = {**context, **kv}  # kv wins, keys keep their first position
        standard: dict[str, object] = {}
        rest: list[tuple[str, object]] = []
        capped = False
        for key, value in merged.items():
            if type(value) in CONTAINERS:
                capped = True
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
        if self.service is not None and "service.name" not in standard:
            standard["service.name"] = self.service
        if standard:
            # Walking the standard keys in order is cheaper than sorting by rank.
            pairs: list[tuple[str, object]] = [
                (key, standard[key]) for key in STANDARD_KEYS if key in standard
            ]
            pairs.extend(rest)
        else:
            pairs = rest
        if extra:
            pairs.extend(extra)
        if capped:
            cap = self._values.items
            pairs = [(k, cap(v) if type(v) in CONTAINERS else v) for k, v in pairs]
        if len(pairs) > self.max_keys:
            dropped = len(pairs) - self.max_keys
            pairs = [*pairs[: self.max_keys], ("log.dropped_keys", dropped)]
        if self._rename:
            rename = self._rename
            pairs = [(rename.get(k, k), v) for k, v in pairs]
        return t, rank, msg, pairs

    def _ids(self, span: otel_trace.SpanContext) -> tuple[str, str]:
        # Most lines in a row belong to the same span: format its ids once.
        cached = self._span_ids
        if cached[0] is not span:
            cached = self._span_ids = span_ids(span)
        return cached[1], cached[2]


def _drop_notice(render: Callable[..., str], clock: Callable[[], float]) -> Callable[[int], str]:
    def notice(count: int) -> str:
        return render(clock(), WARN, "log queue full: lines dropped", [("dropped", count)])

    return notice


def _caller() -> str:
    # The first frame outside this package: `dir/file.py:line`, as Clue's WithFileLocation.
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_LOG_PACKAGE):
        frame = frame.f_back
    path = frame.f_code.co_filename
    short = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
    return f"{short}:{frame.f_lineno}"


def split_names(value: str) -> tuple[str, ...]:
    """Return the names of a comma-separated list (LOG_REDACT), blanks left out."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _parse_level(level: str) -> int | None:
    return LEVELS.get(level.lower()) if isinstance(level, str) else None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except Exception:  # closed or exotic streams
        return False
