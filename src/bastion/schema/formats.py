"""String formats (uuid, email, date-time…) as msgspec custom types.

msgspec validates types, ranges, lengths and patterns in C. Formats it does not know
are small `str` subclasses: msgspec hands their raw value to `dec_hook`, which calls
the subclass's `decode`, so formatted strings are checked wherever they nest and the
value the method sees is still a `str`.
"""

from __future__ import annotations

import calendar
import datetime
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any, ClassVar

__all__ = [
    "FORMAT_PATTERNS",
    "BoundedInt",
    "CustomType",
    "FormattedStr",
    "bounded_int",
    "check_format",
    "dec_hook",
    "describe_format",
    "enc_hook",
    "formatted_str",
    "json_name",
]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _uuid(v: str) -> bool:
    return _UUID.match(v) is not None


def _email(v: str) -> bool:
    return len(v) <= 254 and _EMAIL.match(v) is not None


def _date(v: str) -> bool:
    if _DATE.match(v) is None:
        return False
    try:
        datetime.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _datetime(v: str) -> bool:
    if _DATETIME.match(v) is None:
        return False
    try:
        datetime.datetime.fromisoformat(v.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- uri: Go's url.ParseRequestURI

_HOST_OK = frozenset(b"!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_OK = frozenset(b"-._:~!$&'()*+,;=%@")
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _uri(v: str) -> bool:
    """Whether Go's `url.ParseRequestURI` accepts `v`: an absolute URI or an absolute path.

    Goa checks its `uri` format with it, so `/upload/x` is a URI and `example.com` is not.
    """
    raw = v.encode("utf-8", "surrogatepass")
    if not raw or any(b < 0x20 or b == 0x7F for b in raw):
        return False
    if raw == b"*":
        return True
    scheme, rest = _scheme(raw)
    if scheme is None:
        return False  # "missing protocol scheme"
    rest = rest.split(b"?", 1)[0]  # the query is not checked (Go keeps it raw)
    if not rest.startswith(b"/"):
        return bool(scheme)  # rootless: opaque with a scheme, refused without one
    if scheme and rest.startswith(b"//"):
        authority, slash, path = rest[2:].partition(b"/")
        if not _authority(authority):
            return False
        rest = slash + path
    return _unescapes(rest, host=False)


def _scheme(raw: bytes) -> tuple[bytes | None, bytes]:
    for i, c in enumerate(raw):
        if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A:
            continue
        if 0x30 <= c <= 0x39 or c in b"+-.":
            if i == 0:
                return b"", raw
            continue
        if c == 0x3A:  # ':'
            return (None, b"") if i == 0 else (raw[:i], raw[i + 1:])
        return b"", raw  # not a scheme character: there is no scheme
    return b"", raw


def _authority(authority: bytes) -> bool:
    userinfo, at, host = authority.rpartition(b"@")
    if at and not all(_alnum(c) or c in _USERINFO_OK for c in userinfo):
        return False
    if host.startswith(b"["):
        end = host.rfind(b"]")
        if end < 0 or not _port(host[end + 1:]):
            return False
    else:
        colon = host.rfind(b":")
        if colon >= 0 and not _port(host[colon:]):
            return False
    return _unescapes(host, host=True)


def _port(colon_port: bytes) -> bool:
    return not colon_port or (colon_port[:1] == b":" and all(0x30 <= b <= 0x39
                                                             for b in colon_port[1:]))


def _alnum(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _unescapes(s: bytes, *, host: bool) -> bool:
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == 0x25:  # '%'
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                return False
            # In a host, %-escapes are for non-ASCII bytes only (RFC 3986 3.2.2), or %25.
            if host and int(s[i + 1:i + 2], 16) < 8 and s[i:i + 3] != b"%25":
                return False
            i += 3
            continue
        if host and c < 0x80 and not (_alnum(c) or c in _HOST_OK):
            return False
        i += 1
    return True


# ---------------------------------------------------------------- mac, cidr, json, rfc1123

_MAC_GROUP = re.compile(r"^[0-9A-Fa-f]{2}$")
_MAC_WORD = re.compile(r"^[0-9A-Fa-f]{4}$")


def _mac(v: str) -> bool:
    """Whether Go's `net.ParseMAC` accepts `v` (MAC-48, EUI-48, EUI-64, 20-byte IPoIB)."""
    if len(v) < 14 or not v.isascii():
        return False
    if v[2] in ":-":
        groups = v.split(v[2])
        return len(groups) in (6, 8, 20) and all(_MAC_GROUP.match(g) for g in groups)
    if v[4] == ".":
        words = v.split(".")
        return len(words) * 2 in (6, 8, 20) and all(_MAC_WORD.match(w) for w in words)
    return False


def _cidr(v: str) -> bool:
    """Whether Go's `net.ParseCIDR` accepts `v`: an IP address, `/`, a prefix length."""
    addr, slash, bits = v.partition("/")
    if not slash or not bits.isascii() or not bits.isdigit() or "%" in addr:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return int(bits) <= ip.max_prefixlen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(v: str) -> bool:
    """Whether `v` is JSON text (Go's `json.Valid`): `NaN` and `Infinity` are not."""
    try:
        json.loads(v, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return False
    return True


_RFC1123 = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d{1,2}):(\d{2}):(\d{2})(?:[.,]\d+)? "
    r"(?-i:UTC|ChST|MeST|WITA|GMT(?:[+-]\d{1,2})?|[+-]\d{1,2}|[A-Z]{3}|[A-Z]{3}T|[A-Z]{4}T)$",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _rfc1123(v: str) -> bool:
    """Whether Go's `time.Parse(time.RFC1123, v)` accepts `v`: `Mon, 02 Jan 2006 15:04:05 MST`."""
    match = _RFC1123.match(v)
    if match is None:
        return False
    day, month, year, hour, minute, second = match.groups()
    month_no = _MONTHS.index(month.lower()) + 1
    last = calendar.monthrange(int(year), month_no)[1]
    return 1 <= int(day) <= last and int(hour) < 24 and int(minute) < 60 and int(second) < 60


def _ipv4(v: str) -> bool:
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return False
    return True


def _ipv6(v: str) -> bool:
    try:
        ipaddress.IPv6Address(v)
    except ValueError:
        return False
    return True


def _hostname(v: str) -> bool:
    name = v[:-1] if v.endswith(".") else v
    return 0 < len(name) <= 253 and all(_LABEL.match(p) for p in name.split("."))


def _regexp(v: str) -> bool:
    try:
        re.compile(v)
    except re.error:
        return False
    return True


_CHECKS: dict[str, tuple[Callable[[str], bool], str]] = {
    "uuid": (_uuid, "a UUID"),
    "email": (_email, "an email address"),
    "date": (_date, "an RFC 3339 date (YYYY-MM-DD)"),
    "date-time": (_datetime, "an RFC 3339 date-time"),
    "uri": (_uri, "a URI"),
    "ipv4": (_ipv4, "an IPv4 address"),
    "ipv6": (_ipv6, "an IPv6 address"),
    "ip": (lambda v: _ipv4(v) or _ipv6(v), "an IP address"),
    "hostname": (_hostname, "a hostname"),
    "regexp": (_regexp, "a regular expression"),
    "mac": (_mac, "a MAC address"),
    "cidr": (_cidr, "a CIDR (an IP address and a prefix length)"),
    "json": (_json, "JSON text"),
    "rfc1123": (_rfc1123, "an RFC 1123 date-time"),
}


_D = (
    r"(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))"
    # 29 February: years divisible by 4 but not by 100, or by 400.
    r"|(?:\d{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
)
_T = r"(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"

#: Formats checked by a regular expression that msgspec runs itself (no Python hook per
#: value, and the value stays a plain `str`).
FORMAT_PATTERNS: dict[str, str] = {
    "uuid": _UUID.pattern,
    "email": r"^(?=.{3,254}$)[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$",
    "date": f"^{_D}$",
    "date-time": f"^{_D}[Tt]{_T}$",
    "ipv4": r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$",
    "hostname": (
        r"^(?=.{1,253}\.?$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
    ),
}


def describe_format(fmt: str) -> str:
    """The message a value of the wrong format gets."""
    return f"Expected `str` formatted as {_CHECKS[fmt][1]}"


def check_format(fmt: str, value: str) -> str | None:
    """Return why `value` is not of format `fmt`, or None when it is."""
    check, what = _CHECKS[fmt]
    return None if check(value) else f"Expected `str` formatted as {what}"


class CustomType:
    """Base of the types msgspec hands to Bastion's hooks: `decode` in, `to_wire` out."""

    __slots__ = ()

    @classmethod
    def decode(cls, value: Any) -> Any:
        """Validate `value` as this type (raise TypeError or ValueError with a message)."""
        raise NotImplementedError

    def to_wire(self) -> Any:
        """This value as JSON-able builtins."""
        raise NotImplementedError


class FormattedStr(str, CustomType):
    """Base of the generated string types that carry a format (and its other checks)."""

    __slots__ = ()
    fmt: ClassVar[str] = ""
    pattern: ClassVar[re.Pattern[str] | None] = None
    min_length: ClassVar[int | None] = None
    max_length: ClassVar[int | None] = None

    @classmethod
    def decode(cls, value: Any) -> FormattedStr:
        """Validate `value` as this type or raise ValueError with msgspec's wording."""
        if not isinstance(value, str):
            raise TypeError(f"Expected `str`, got `{json_name(value)}`")
        if cls.min_length is not None and len(value) < cls.min_length:
            raise ValueError(f"Expected `str` of length >= {cls.min_length}")
        if cls.max_length is not None and len(value) > cls.max_length:
            raise ValueError(f"Expected `str` of length <= {cls.max_length}")
        if cls.pattern is not None and cls.pattern.search(value) is None:
            raise ValueError(f"Expected `str` matching regex {cls.pattern.pattern!r}")
        problem = check_format(cls.fmt, value)
        if problem is not None:
            raise ValueError(problem)
        return cls(value)


def formatted_str(
    fmt: str, pattern: str | None = None, min_length: int | None = None,
    max_length: int | None = None,
) -> type[FormattedStr]:
    """Return a new string type checking `fmt` plus the other string validations.

    Each `TypeCompiler` keeps the types it made, so two Apps never share them.
    """
    return type(
        "Str_" + re.sub(r"\W", "_", fmt),
        (FormattedStr,),
        {
            "__slots__": (),
            "fmt": fmt,
            "pattern": re.compile(pattern) if pattern is not None else None,
            "min_length": min_length,
            "max_length": max_length,
        },
    )


class BoundedInt(int, CustomType):
    """Base of the generated integer types whose bounds exceed msgspec's int64 `Meta`."""

    __slots__ = ()
    low: ClassVar[int | None] = None
    high: ClassVar[int] = 0

    @classmethod
    def decode(cls, value: Any) -> BoundedInt:
        """Validate `value` as this type or raise ValueError with msgspec's wording."""
        if isinstance(value, str):  # query, path and header values (lax conversion)
            try:
                value = int(value)
            except ValueError:
                raise TypeError("Expected `int`, got `str`") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"Expected `int`, got `{json_name(value)}`")
        if cls.low is not None and value < cls.low:
            raise ValueError(f"Expected `int` >= {cls.low}")
        if value > cls.high:
            raise ValueError(f"Expected `int` <= {cls.high}")
        return cls(value)


def bounded_int(low: int | None, high: int) -> type[BoundedInt]:
    """Return a new integer type checking `low <= value <= high` (for uint64 ranges)."""
    return type("BoundedInt", (BoundedInt,), {"__slots__": (), "low": low, "high": high})


def dec_hook(type_: type, value: Any) -> Any:
    """msgspec decode hook: validate formatted strings, wide integers and unions."""
    if isinstance(type_, type) and issubclass(type_, CustomType):
        return type_.decode(value)
    raise NotImplementedError(f"Bastion cannot decode {type_!r}")


def enc_hook(value: Any) -> Any:
    """msgspec encode hook: formatted strings are plain strings on the wire; unions tagged."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, CustomType):
        return value.to_wire()
    raise NotImplementedError(f"Bastion cannot encode objects of type {type(value).__name__}")


def json_name(value: Any) -> str:
    """The JSON type name of a decoded value, as msgspec's messages spell it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
