"""Line formats of the context logger: JSON lines, logfmt, a coloured terminal format, yours.

A format turns one entry (time, level, message, ordered key/value pairs) into one line of
text ending in a newline. Values never contain a raw newline or control character, so a
line can never be split or forged by what a user logs. `Keys` renames keys and level
names (presets for Google Cloud Logging and Elastic ECS); a callable taking an `Entry`
is a custom format.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, NamedTuple, Protocol

import msgspec

__all__ = [
    "DEBUG",
    "ERROR",
    "FORMATS",
    "INFO",
    "LEVELS",
    "LEVEL_NAMES",
    "RESERVED_KEYS",
    "STACK_KEY",
    "STANDARD_KEYS",
    "WARN",
    "Entry",
    "Format",
    "FormatFunc",
    "Keys",
    "Values",
    "error_text",
    "make_format",
]

# Ranks match the stdlib's numbers so records map over without a table.
DEBUG: Final = 10
INFO: Final = 20
WARN: Final = 30
ERROR: Final = 40

LEVEL_NAMES: Final = {DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error"}
LEVELS: Final = {"debug": DEBUG, "info": INFO, "warn": WARN, "warning": WARN, "error": ERROR}
FORMATS: Final = ("json", "terminal", "logfmt")

#: Keys that follow `time`, `level` and `msg` on every line, in this order, before user fields.
#: Names follow the OpenTelemetry semantic conventions where they have one.
STANDARD_KEYS: Final = (
    "err",
    "trace_id",
    "span_id",
    "request_id",
    "service.name",  # the API: the process's OpenTelemetry service name
    "service",  # the design's service of the method being called
    "method",
    "http.request.method",
    "url.full",
    "url.path",
    "url.query",
    "http.route",
    "http.response.status_code",
    "http.time_ms",
    "http.response.body.size",
    "client.address",
    "error.type",
    "error.id",
)
#: Keys a line writes itself; a user field with one of these names is renamed `fields.<key>`.
RESERVED_KEYS: Final = frozenset({"time", "level", "msg"})
#: The key of a logged stack trace; its value may be `Values.stack_size` long.
STACK_KEY: Final = "exception.stacktrace"

Pairs = Sequence[tuple[str, object]]


class Entry(NamedTuple):
    """One log entry as a custom format receives it; values are already capped."""

    time: float  # seconds since the epoch
    level: str  # debug, info, warn or error
    msg: object
    fields: tuple[tuple[str, object], ...]


#: A custom format: returns the line for an entry (a final newline is added if missing).
FormatFunc = Callable[[Entry], str]


@dataclass(frozen=True)
class Keys:
    """Names of keys and levels on a line: `rename` maps Bastion's key to yours.

    `rename` may map `time`, `level`, `msg` and any other key (standard or not);
    `levels` maps debug, info, warn and error to the words written. `Keys.GCP` and
    `Keys.ECS` are presets for Google Cloud Logging and Elastic's Common Schema.
    """

    rename: Mapping[str, str] = field(default_factory=dict)
    levels: Mapping[str, str] = field(default_factory=dict)

    GCP: ClassVar[Keys]
    ECS: ClassVar[Keys]

    def key(self, name: str) -> str:
        """Return the name written for key `name`."""
        return self.rename.get(name, name)

    def level(self, rank: int) -> str:
        """Return the word written for level `rank`."""
        name = LEVEL_NAMES[rank]
        return self.levels.get(name, name)


Keys.GCP = Keys(
    rename={
        "level": "severity",
        "msg": "message",
        "trace_id": "logging.googleapis.com/trace",
        "span_id": "logging.googleapis.com/spanId",
    },
    levels={"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR"},
)
Keys.ECS = Keys(
    rename={
        "time": "@timestamp",
        "level": "log.level",
        "msg": "message",
        "err": "error.message",
        STACK_KEY: "error.stack_trace",
        "trace_id": "trace.id",
        "span_id": "span.id",
        "request_id": "http.request.id",
        "logger": "log.logger",
        "http.response.body.size": "http.response.body.bytes",
    },
)
#: Presets by the names `Logger(keys=...)` and LOG_KEYS accept.
KEY_PRESETS: Final = {"default": Keys(), "gcp": Keys.GCP, "ecs": Keys.ECS}

_TERMINAL_CODES: Final = {DEBUG: "DEBG", INFO: "INFO", WARN: "WARN", ERROR: "ERRO"}
_COLOURS: Final = {DEBUG: "\x1b[37m", INFO: "\x1b[34m", WARN: "\x1b[33m", ERROR: "\x1b[31m"}
_RESET: Final = "\x1b[0m"
# logfmt and terminal values are quoted when they hold a space, a quote, an `=`, a backslash
# or a control character (which also keeps ANSI escapes from users out of a terminal).
_NEEDS_QUOTES: Final = re.compile(r'[\s"=\\\x00-\x1f\x7f]')


class Format(Protocol):
    """Renders one log entry as one line of text, newline included."""

    def render(self, t: float, level: int, msg: object, pairs: Pairs) -> str:
        """Return the line for an entry logged at time `t` (seconds since the epoch)."""
        ...


def _to_text(obj: object) -> str:
    # A value whose __str__ raises must not lose the whole line.
    try:
        return str(obj)
    except Exception:
        return f"<unprintable {type(obj).__qualname__}>"


def _object_text(obj: object) -> str:
    # The JSON encoder's hook for what JSON cannot hold: exceptions as `Type: message`.
    return error_text(obj) if isinstance(obj, BaseException) else _to_text(obj)


def error_text(err: BaseException) -> str:
    """Return `Type: message` for an exception, or the type alone when the message is empty."""
    message = _to_text(err)
    name = type(err).__qualname__
    return f"{name}: {message}" if message else name


#: Top-level values whose items are counted against `Values.max_items`.
CONTAINERS: Final = frozenset({list, tuple, dict, set, frozenset})


class Values:
    """Makes field values writable: caps size and items, renders exceptions and objects.

    `max_size` bounds a value's bytes (`stack_size` for the stack key); `items` caps a
    list or dict value to `max_items` (the Logger applies it to each line's values once).
    """

    __slots__ = ("_encode", "max_items", "max_size", "stack_size")

    def __init__(self, max_size: int, *, max_items: int = 100, stack_size: int = 16384) -> None:
        self.max_size = max_size
        self.max_items = max_items
        self.stack_size = max(stack_size, max_size)
        self._encode = msgspec.json.Encoder(enc_hook=_to_text).encode

    def normalize(self, value: object, limit: int = 0) -> object:
        """Return `value` as a str, int, float, bool, None or `msgspec.Raw` JSON."""
        limit = limit or self.max_size
        kind = type(value)
        if kind is str:
            text: str = value  # type: ignore[assignment]
            # isascii() is O(1) in CPython, and ASCII text has as many bytes as characters.
            if text.isascii():
                if len(text) <= limit:
                    return text
                return text[:limit] + _marker(len(text) - limit)
            return self._unicode(text, limit)
        if kind is int or kind is float or kind is bool or value is None:
            return value
        if isinstance(value, BaseException):
            return self.normalize(error_text(value), limit)
        if isinstance(value, (dict, list, tuple)):
            try:
                data = self._encode(value)
            except Exception:
                return self.normalize(_to_text(value), limit)
            if len(data) <= limit:
                return msgspec.Raw(data)
            return self.normalize(data.decode(), limit)
        return self.normalize(_to_text(value), limit)

    def cap(self, value: object) -> object:
        """Return `value` capped but in its own type: what a custom format receives."""
        kind = type(value)
        if kind is int or kind is float or kind is bool or value is None:
            return value
        if isinstance(value, (dict, list, tuple)):
            try:
                size = len(self._encode(value))
            except Exception:
                return self.normalize(_to_text(value))
            return value if size <= self.max_size else self.normalize(value)
        return self.normalize(value)

    def items(self, value: Any) -> Any:
        """Return list, tuple, set or dict `value` with at most `max_items` items, marked."""
        n = self.max_items
        if len(value) <= n:
            return value
        more = f"…[{len(value) - n} more items]"
        if isinstance(value, dict):
            out = dict(zip(list(value)[:n], list(value.values())[:n], strict=True))
            out["…"] = more
            return out
        return [*list(value)[:n], more]

    def _unicode(self, text: str, limit: int) -> str:
        try:
            data = text.encode()
        except UnicodeEncodeError:
            # Lone surrogates cannot be written as UTF-8: show them escaped instead.
            text = text.encode("utf-8", "backslashreplace").decode()
            data = text.encode()
        if len(data) <= limit:
            return text
        cut = limit
        while cut > 0 and data[cut] & 0xC0 == 0x80:  # step back to a character boundary
            cut -= 1
        return data[:cut].decode() + _marker(len(data) - cut)


def _marker(dropped: int) -> str:
    return f"…[truncated {dropped} bytes]"


class _UTCText:
    """RFC 3339 UTC time with milliseconds; the part up to the second is cached."""

    __slots__ = ("_cache", "_last")

    def __init__(self) -> None:
        # Never a real second or millisecond: the first line computes its text.
        self._cache: tuple[int | None, str] = (None, "")
        self._last: tuple[int | None, str] = (None, "")  # lines often share a millisecond

    def __call__(self, t: float) -> str:
        ms = round(t * 1000)
        last = self._last
        if last[0] == ms:
            return last[1]
        second, millis = divmod(ms, 1000)
        cache = self._cache
        if cache[0] != second:
            cache = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._cache = cache  # one tuple store: safe to share between threads
        text = "%s.%03dZ" % (cache[1], millis)  # noqa: UP031
        self._last = (ms, text)
        return text


def _quote(text: str) -> str:
    if text and _NEEDS_QUOTES.search(text) is None:
        return text
    return msgspec.json.encode(text).decode()


def _text(value: object) -> str:
    # `value` has been through Values: only these types reach here.
    kind = type(value)
    if kind is str:
        return _quote(value)  # type: ignore[arg-type]
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is msgspec.Raw:
        return _quote(bytes(value).decode())  # type: ignore[call-overload]
    return repr(value)  # int and float


def _key(key: str) -> str:
    return key if _NEEDS_QUOTES.search(key) is None else _NEEDS_QUOTES.sub("_", key)


class JSONFormat:
    """One JSON object per line, keys in order: time, level, msg, standard keys, fields."""

    __slots__ = ("_encode", "_keys", "_levels", "_max", "_stack", "_time", "_values")

    def __init__(self, values: Values, keys: Keys | None = None) -> None:
        keys = keys or Keys()
        self._values = values.normalize
        self._max = values.max_size
        self._stack = (keys.key(STACK_KEY), values.stack_size)
        self._time = _UTCText()
        self._keys = (keys.key("time"), keys.key("level"), keys.key("msg"))
        self._levels = {rank: keys.level(rank) for rank in LEVEL_NAMES}
        self._encode = msgspec.json.Encoder(enc_hook=_object_text).encode

    @property
    def encoder(self) -> Callable[[object], bytes]:
        """The line encoder: JSON bytes, other objects as text."""
        return self._encode

    @property
    def max_size(self) -> int:
        """The longest line written without looking at each value."""
        return self._max

    @property
    def line_keys_in_order(self) -> tuple[str, str, str]:
        """The names this format gives time, level and msg, in that order."""
        return self._keys

    @property
    def time_text(self) -> Callable[[float], str]:
        """The time text a line at `t` begins with (RFC 3339 UTC, milliseconds)."""
        return self._time

    @property
    def level_names(self) -> Mapping[int, str]:
        """The level name of each level rank, as lines write it."""
        return self._levels

    def render(self, t: float, level: int, msg: object, pairs: Pairs) -> str:
        """Return the JSON line for an entry."""
        values = self._values
        limit = self._max
        time_key, level_key, msg_key = self._keys
        line = {time_key: self._time(t), level_key: self._levels[level], msg_key: msg}
        line.update(pairs)
        # The common case: a short line. If the whole line fits in the value limit, no
        # value can be over it: encode once, with no per-value checks (the encoder's hook
        # renders exceptions and other objects as the careful path does).
        try:
            data = self._encode(line)
        except Exception:  # e.g. lone surrogates: the careful path escapes them
            data = b""
        if data and len(data) <= limit:
            return data.decode() + "\n"
        line[msg_key] = values(msg)
        stack_key, stack_size = self._stack
        for key, value in pairs:
            # Short ASCII text and numbers are most values: skip the call for them.
            if (type(value) is str and len(value) <= limit and value.isascii()) or (
                type(value) is int or type(value) is float
            ):
                line[key] = value
            else:
                line[key] = values(value, stack_size if key == stack_key else 0)
        return self._encode(line).decode() + "\n"


class LogfmtFormat:
    """`key=value` pairs separated by spaces, values quoted when needed (logfmt)."""

    __slots__ = ("_head", "_levels", "_stack", "_time", "_values")

    def __init__(self, values: Values, keys: Keys | None = None) -> None:
        keys = keys or Keys()
        self._values = values.normalize
        self._stack = (keys.key(STACK_KEY), values.stack_size)
        self._time = _UTCText()
        self._head = tuple(_key(keys.key(k)) for k in ("time", "level", "msg"))
        self._levels = {rank: keys.level(rank) for rank in LEVEL_NAMES}

    def render(self, t: float, level: int, msg: object, pairs: Pairs) -> str:
        """Return the logfmt line for an entry."""
        values = self._values
        stack_key, stack_size = self._stack
        time_key, level_key, msg_key = self._head
        parts = [
            f"{time_key}={self._time(t)} {level_key}={_text(self._levels[level])} "
            f"{msg_key}={_text(values(msg))}"
        ]
        parts.extend(
            f"{_key(key)}={_text(values(value, stack_size if key == stack_key else 0))}"
            for key, value in pairs
        )
        return " ".join(parts) + "\n"


class TerminalFormat:
    """Clue's terminal format: `INFO[0042] msg=... key=value`, coloured by level on request.

    The bracketed number is the whole seconds since the logger started.
    """

    __slots__ = ("_colours", "_msg", "_prefixes", "_stack", "_start", "_values")

    def __init__(
        self, values: Values, *, start: float, colour: bool, keys: Keys | None = None
    ) -> None:
        keys = keys or Keys()
        self._values = values.normalize
        self._stack = (keys.key(STACK_KEY), values.stack_size)
        self._msg = _key(keys.key("msg"))
        self._start = start
        self._colours = {
            level: (_COLOURS[level], _RESET) if colour else ("", "") for level in LEVEL_NAMES
        }
        self._prefixes = {
            level: f"{_COLOURS[level]}{code}{_RESET}" if colour else code
            for level, code in _TERMINAL_CODES.items()
        }

    def render(self, t: float, level: int, msg: object, pairs: Pairs) -> str:
        """Return the terminal line for an entry."""
        values = self._values
        stack_key, stack_size = self._stack
        on, off = self._colours[level]
        seconds = max(0, int(t - self._start))
        parts = [
            f"{self._prefixes[level]}[{seconds:04d}] {on}{self._msg}{off}={_text(values(msg))}"
        ]
        parts.extend(
            f"{on}{_key(key)}{off}="
            f"{_text(values(value, stack_size if key == stack_key else 0))}"
            for key, value in pairs
        )
        return " ".join(parts) + "\n"


class CallableFormat:
    """A user's format function behind the `Format` protocol; values are capped first.

    A function that raises does not lose the entry: it is written as JSON, with the
    error under `log.format_error`.
    """

    __slots__ = ("_fallback", "_fn", "_values")

    def __init__(self, fn: FormatFunc, values: Values, keys: Keys | None = None) -> None:
        self._fn = fn
        self._values = values
        self._fallback = JSONFormat(values, keys)

    def render(self, t: float, level: int, msg: object, pairs: Pairs) -> str:
        """Return the line `fn` makes of the entry, newline-terminated."""
        cap = self._values.cap
        entry = Entry(t, LEVEL_NAMES[level], cap(msg), tuple((k, cap(v)) for k, v in pairs))
        try:
            line = self._fn(entry)
            if not isinstance(line, str):
                raise TypeError(f"a log format must return str, not {type(line).__name__}")
        except Exception as exc:
            return self._fallback.render(t, level, msg, [*pairs, ("log.format_error", exc)])
        return line if line.endswith("\n") else line + "\n"


def make_format(
    name: str | FormatFunc,
    values: Values,
    *,
    start: float,
    colour: bool,
    keys: Keys | None = None,
) -> Format:
    """Return the format called `name` (one of FORMATS), or wrap a format function."""
    if callable(name):
        return CallableFormat(name, values, keys)
    if name == "json":
        return JSONFormat(values, keys)
    if name == "logfmt":
        return LogfmtFormat(values, keys)
    return TerminalFormat(values, start=start, colour=colour, keys=keys)
