"""Line formats of the context logger: JSON lines, logfmt and a coloured terminal format.

A format turns one entry (time, level, message, ordered key/value pairs) into one line of
text ending in a newline. Values never contain a raw newline or control character, so a
line can never be split or forged by what a user logs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Final, Protocol

import msgspec

__all__ = [
    "DEBUG",
    "ERROR",
    "FORMATS",
    "INFO",
    "LEVELS",
    "LEVEL_NAMES",
    "RESERVED_KEYS",
    "STANDARD_KEYS",
    "WARN",
    "Format",
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
STANDARD_KEYS: Final = (
    "err",
    "trace_id",
    "span_id",
    "request_id",
    "service",
    "method",
    "http.method",
    "http.url",
    "http.status",
    "http.time_ms",
    "http.bytes",
    "http.remote_addr",
)
#: Keys a line writes itself; a user field with one of these names is renamed `fields.<key>`.
RESERVED_KEYS: Final = frozenset({"time", "level", "msg"})

Pairs = Sequence[tuple[str, object]]

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


class Values:
    """Makes field values writable: truncates long text, renders exceptions and objects."""

    __slots__ = ("_encode", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._encode = msgspec.json.Encoder(enc_hook=_to_text).encode

    def normalize(self, value: object) -> object:
        """Return `value` as a str, int, float, bool, None or `msgspec.Raw` JSON."""
        kind = type(value)
        if kind is str:
            text: str = value  # type: ignore[assignment]
            # isascii() is O(1) in CPython, and ASCII text has as many bytes as characters.
            if text.isascii():
                if len(text) <= self.max_size:
                    return text
                return text[: self.max_size] + _marker(len(text) - self.max_size)
            return self._unicode(text)
        if kind is int or kind is float or kind is bool or value is None:
            return value
        if isinstance(value, BaseException):
            return self.normalize(error_text(value))
        if isinstance(value, (dict, list, tuple)):
            try:
                data = self._encode(value)
            except Exception:
                return self.normalize(_to_text(value))
            if len(data) <= self.max_size:
                return msgspec.Raw(data)
            return self.normalize(data.decode())
        return self.normalize(_to_text(value))

    def _unicode(self, text: str) -> str:
        try:
            data = text.encode()
        except UnicodeEncodeError:
            # Lone surrogates cannot be written as UTF-8: show them escaped instead.
            text = text.encode("utf-8", "backslashreplace").decode()
            data = text.encode()
        if len(data) <= self.max_size:
            return text
        cut = self.max_size
        while cut > 0 and data[cut] & 0xC0 == 0x80:  # step back to a character boundary
            cut -= 1
        return data[:cut].decode() + _marker(len(data) - cut)


def _marker(dropped: int) -> str:
    return f"…[truncated {dropped} bytes]"


class _UTCText:
    """RFC 3339 UTC time with milliseconds; the part up to the second is cached."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: tuple[int, str] = (-1, "")

    def __call__(self, t: float) -> str:
        second, millis = divmod(round(t * 1000), 1000)
        cache = self._cache
        if cache[0] != second:
            cache = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._cache = cache  # one tuple store: safe to share between threads
        return f"{cache[1]}.{millis:03d}Z"


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

    __slots__ = ("_encode", "_max", "_time", "_values")

    def __init__(self, values: Values) -> None:
        self._values = values.normalize
        self._max = values.max_size
        self._time = _UTCText()
        self._encode = msgspec.json.Encoder(enc_hook=_object_text).encode

    def render(self, t: float, level: int, msg: object, pairs: Pairs) -> str:
        """Return the JSON line for an entry."""
        values = self._values
        limit = self._max
        line = {"time": self._time(t), "level": LEVEL_NAMES[level], "msg": msg}
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
        line["msg"] = values(msg)
        for key, value in pairs:
            # Short ASCII text and numbers are most values: skip the call for them.
            if (type(value) is str and len(value) <= limit and value.isascii()) or (
                type(value) is int or type(value) is float
            ):
                line[key] = value
            else:
                line[key] = values(value)
        return self._encode(line).decode() + "\n"


class LogfmtFormat:
    """`key=value` pairs separated by spaces, values quoted when needed (logfmt)."""

    __slots__ = ("_time", "_values")

    def __init__(self, values: Values) -> None:
        self._values = values.normalize
        self._time = _UTCText()

    def render(self, t: float, level: int, msg: object, pairs: Pairs) -> str:
        """Return the logfmt line for an entry."""
        values = self._values
        parts = [f"time={self._time(t)} level={LEVEL_NAMES[level]} msg={_text(values(msg))}"]
        parts.extend(f"{_key(key)}={_text(values(value))}" for key, value in pairs)
        return " ".join(parts) + "\n"


class TerminalFormat:
    """Clue's terminal format: `INFO[0042] msg=... key=value`, coloured by level on request.

    The bracketed number is the whole seconds since the logger started.
    """

    __slots__ = ("_colours", "_prefixes", "_start", "_values")

    def __init__(self, values: Values, *, start: float, colour: bool) -> None:
        self._values = values.normalize
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
        on, off = self._colours[level]
        seconds = max(0, int(t - self._start))
        parts = [f"{self._prefixes[level]}[{seconds:04d}] {on}msg{off}={_text(values(msg))}"]
        parts.extend(f"{on}{_key(key)}{off}={_text(values(value))}" for key, value in pairs)
        return " ".join(parts) + "\n"


def make_format(name: str, values: Values, *, start: float, colour: bool) -> Format:
    """Return the format called `name` (one of FORMATS)."""
    if name == "json":
        return JSONFormat(values)
    if name == "logfmt":
        return LogfmtFormat(values)
    return TerminalFormat(values, start=start, colour=colour)
