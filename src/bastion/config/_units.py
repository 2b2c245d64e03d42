"""Durations and byte sizes as people write them in an environment.

Durations read as Go writes them ("250ms", "10s", "1m30s", "1h") or as plain seconds
("10", "0.5"). Sizes read with an SI or IEC unit ("512KB" is 512,000 bytes, "1MiB" is
1,048,576) or as plain bytes ("1024").
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = [
    "ByteSize",
    "Duration",
    "format_byte_size",
    "format_duration",
    "parse_byte_size",
    "parse_duration",
]

_DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign, as Go prints it
    "μs": 1e-6,  # Greek mu, as people type it
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION_RE = re.compile(rf"(?:{_DURATION_PART})+")
_DURATION_PART_RE = re.compile(_DURATION_PART)

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)", re.IGNORECASE)

DURATION_HINT = "a duration such as 250ms, 10s, 1m30s or plain seconds"
SIZE_HINT = "a size such as 1MiB, 512KB or plain bytes"


def parse_duration(text: str) -> float:
    """Return the number of seconds in `text`: Go's format ("1m30s", "250ms") or plain seconds.

    Raises ValueError naming the accepted forms when `text` is neither, or negative.
    """
    s = text.strip()
    if not s:
        raise ValueError(f"empty; expected {DURATION_HINT}")
    if s.startswith("-"):
        raise ValueError(f"{text!r} is negative; expected {DURATION_HINT}")
    try:
        seconds = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(f"{text!r} is not finite; expected {DURATION_HINT}")
        return seconds
    if _DURATION_RE.fullmatch(s.lstrip("+")) is None:
        raise ValueError(f"{text!r} is not {DURATION_HINT}")
    return sum(
        float(number) * _DURATION_UNITS[unit]
        for number, unit in _DURATION_PART_RE.findall(s.lstrip("+"))
    )


def format_duration(seconds: float) -> str:
    """Return `seconds` the way Go prints a duration, compactly: "1m30s", "250ms", "1h"."""
    if seconds == 0:
        return "0s"
    if seconds < 1e-3:
        return f"{_trim(seconds * 1e6)}us"
    if seconds < 1:
        return f"{_trim(seconds * 1e3)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if minutes:
        out += f"{int(minutes)}m"
    if secs or not out:
        out += f"{_trim(secs)}s"
    return out


def parse_byte_size(text: str) -> int:
    """Return the number of bytes in `text`: "1MiB", "512KB", "1.5KiB" or plain bytes.

    KB, MB, GB and TB are powers of 1000; KiB, MiB, GiB and TiB are powers of 1024. Units
    are case-insensitive. Raises ValueError when `text` is none of these or not whole bytes.
    """
    s = text.strip()
    match = _SIZE_RE.fullmatch(s)
    if match is None:
        raise ValueError(f"{text!r} is not {SIZE_HINT}")
    number, unit = match.group(1), match.group(2).lower()
    factor = _SIZE_UNITS.get(unit or "b")
    if factor is None:
        units = ", ".join(["B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"])
        raise ValueError(f"{text!r} has an unknown unit {match.group(2)!r}; use one of {units}")
    value = float(number) * factor
    if value != int(value):
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(value)


def format_byte_size(size: int) -> str:
    """Return `size` with the largest IEC unit that divides it: 1048576 -> "1MiB"."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def _trim(value: float) -> str:
    # Enough digits for any configured timeout, without float noise such as 0.30000000000000004.
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _to_seconds(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{value!r} is negative; expected {DURATION_HINT}")
    return value


def _to_bytes(value: Any) -> Any:
    if isinstance(value, str):
        return parse_byte_size(value)
    return value


class _Kind:
    """Marks an annotated type so the config table and errors can name what is expected."""

    __slots__ = ("hint", "name")

    def __init__(self, name: str, hint: str) -> None:
        self.name = name
        self.hint = hint

    def __repr__(self) -> str:
        return f"_Kind({self.name!r})"


DURATION_KIND = _Kind("duration", DURATION_HINT)
SIZE_KIND = _Kind("size", SIZE_HINT)

#: A duration in seconds (float), read from "250ms", "10s", "1m30s" or plain seconds.
Duration = Annotated[
    float,
    BeforeValidator(_to_seconds),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    DURATION_KIND,
]

#: A size in bytes (int), read from "1MiB", "512KB" or plain bytes.
ByteSize = Annotated[
    int,
    BeforeValidator(_to_bytes),
    PlainSerializer(format_byte_size, return_type=str, when_used="json"),
    SIZE_KIND,
]
