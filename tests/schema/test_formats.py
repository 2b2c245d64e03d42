"""String formats: each is checked the same way by `check_format` and by compiled types."""

from __future__ import annotations

import msgspec
import pytest

from bastion.dsl import *
from bastion.schema.compile import TypeCompiler
from bastion.schema.formats import (
    FormattedStr,
    check_format,
    dec_hook,
    describe_format,
    enc_hook,
    formatted_str,
)

SAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "uuid": (
        ["123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000"],
        ["123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g", "",
         "{123e4567-e89b-12d3-a456-426614174000}"],
    ),
    "email": (
        ["a@b.co", "first.last+tag@example.org"],
        ["a@b", "@b.co", "a b@c.de", "a@@b.co", "", "a@b..co"],
    ),
    "date": (
        ["2024-02-29", "2000-02-29", "1999-12-31"],
        ["2024-13-01", "2024-04-31", "24-01-01", "2024-1-1", "2024-01-01T00:00:00Z",
         "2023-02-29", "1900-02-29"],
    ),
    "date-time": (
        ["2024-01-01T00:00:00Z", "2024-06-30t23:59:59.123+02:00", "2024-01-01T10:00:00-05:30"],
        ["2024-01-01 00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T25:00:00Z",
         "2024-02-30T00:00:00Z", "yesterday"],
    ),
    # Go's url.ParseRequestURI, which Goa's `uri` format is: an absolute URI, or an
    # absolute path (what a request line carries).
    "uri": (
        ["https://example.com/a?b=c", "mailto:someone@example.com", "urn:isbn:0451450523",
         "/upload/x", "//cdn/x", "*", "http://user:pw@[::1]:8080/p%20q#frag",
         "http://h:/x", "HTTP://EXAMPLE.COM", "s3://bucket/k?", "http://caf\u00e9.fr/"],
        ["example.com/no-scheme", "http://exa mple.com", "", "1http://x.y", ":x", "a",
         "http://h:8x/", "http://[::1/", "/bad%zz", "/bad%4", "http://a\x7fb/",
         "http://h%41/", "http://us er@h/", "tab\there:/x", "relative/path"],
    ),
    "ipv4": (
        ["127.0.0.1", "255.255.255.255", "0.0.0.0"],
        ["256.0.0.1", "1.2.3", "1.2.3.4.5", "::1", "01.2.3.4"],
    ),
    "ipv6": (
        ["::1", "2001:db8::8a2e:370:7334", "fe80::1"],
        ["127.0.0.1", "2001:db8:::1", "gggg::1", ""],
    ),
    "ip": (["10.0.0.1", "::1"], ["host", "300.1.1.1"]),
    "hostname": (
        ["example.com", "localhost", "a-b.c-d.example", "example.com."],
        ["-bad.example", "bad-.example", "a..b", "under_score.example", "", "a" * 64 + ".com"],
    ),
    "regexp": (["^[a-z]+$", "a|b", "(x)?"], ["(", "[a-", "*"]),
    # Go's net.ParseMAC: two-digit groups split by ':' or '-', or dotted four-digit words,
    # of 6, 8 or 20 bytes.
    "mac": (
        ["00:00:5e:00:53:01", "02-00-5E-10-00-00", "0000.5e00.5301",
         "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
         "00:00:5e:00:53:01:02:03"],
        ["00:00:5e:00:53", "00:00:5e:00:53:0g", "00-00:5e:00:53:01", "0000.5e00", "",
         "00:00:5e:00:53:01:02", "000.05e00.5301"],
    ),
    # Go's net.ParseCIDR: an address (no zone), a slash, a prefix length within its size.
    "cidr": (
        ["192.0.2.0/24", "10.1.2.3/8", "2001:db8::/32", "::/0", "0.0.0.0/0"],
        ["192.0.2.0", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/-1", "fe80::1%eth0/64",
         "192.0.2.0/24/1", "host/24", "192.0.2.0/ 24", "192.0.2.0/255.255.255.0"],
    ),
    "json": (
        ['{"a": [1, 2.5, true, null]}', "3", '"x"', " [] ", "123456789012345678901234567890"],
        ["{", "NaN", "Infinity", "{'a': 1}", "", "[1,]", '{"a" 1}'],
    ),
    # Go's time.RFC1123: "Mon, 02 Jan 2006 15:04:05 MST".
    "rfc1123": (
        ["Mon, 02 Jan 2006 15:04:05 MST", "Tue, 29 Feb 2000 00:00:00 GMT",
         "sun, 31 dec 2023 23:59:59 UTC", "Wed, 01 Mar 2023 9:05:07 CEST",
         "Fri, 02 Jun 2023 15:04:05.123 PST"],
        ["Mon, 2 Jan 2006 15:04:05 MST", "Mon, 02 Jan 2006 15:04:05", "Mon, 30 Feb 2023 "
         "10:00:00 GMT", "Mon, 02 Jan 2006 24:00:00 MST", "Mon, 02 Jan 2006 15:04:05 mst",
         "2006-01-02T15:04:05Z", "Mon, 02 Jan 2006 15:04:05 ABCD", "Mon, 02 Jan 2006 "
         "15:60:05 MST"],
    ),
}


def cases(valid: bool) -> list[tuple[str, str]]:
    return [(f, v) for f, (good, bad) in SAMPLES.items() for v in (good if valid else bad)]


def test_the_required_formats_are_covered() -> None:
    required = {UUID, Email, Date, DateTime, URI, IPv4, IPv6, Hostname, Regexp, MAC, CIDR, JSON,
                RFC1123}
    assert required <= set(SAMPLES)
    assert set(SAMPLES) == set(FORMATS)


@pytest.mark.parametrize(("fmt", "value"), cases(True))
def test_check_format_accepts_valid_values(fmt: str, value: str) -> None:
    assert check_format(fmt, value) is None


@pytest.mark.parametrize(("fmt", "value"), cases(False))
def test_check_format_rejects_invalid_values(fmt: str, value: str) -> None:
    assert check_format(fmt, value) == describe_format(fmt)


def compiled(fmt: str) -> type[msgspec.Struct]:
    with API("formats") as api:
        pass
    with Type("T"):
        Attribute("x", String, format=fmt)
    return TypeCompiler(api).struct(api.types["T"])


@pytest.mark.parametrize(("fmt", "value"), cases(True))
def test_compiled_types_accept_valid_values(fmt: str, value: str) -> None:
    t = compiled(fmt)
    decoded = msgspec.json.decode(msgspec.json.encode({"x": value}), type=t, dec_hook=dec_hook)
    assert decoded.x == value  # type: ignore[attr-defined]


@pytest.mark.parametrize(("fmt", "value"), cases(False))
def test_compiled_types_reject_invalid_values(fmt: str, value: str) -> None:
    t = compiled(fmt)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode({"x": value}), type=t, dec_hook=dec_hook)


def test_describe_format_names_the_format() -> None:
    assert describe_format("uuid") == "Expected `str` formatted as a UUID"
    assert describe_format("ipv6") == "Expected `str` formatted as an IPv6 address"


def test_formatted_str_combines_format_with_length_and_pattern() -> None:
    cls = formatted_str("ipv6", pattern="^fe80", min_length=4, max_length=20)
    assert issubclass(cls, FormattedStr) and issubclass(cls, str)
    assert cls.decode("fe80::1") == "fe80::1"
    with pytest.raises(ValueError, match="length >= 4"):
        cls.decode("::1")
    with pytest.raises(ValueError, match="length <= 20"):
        cls.decode("fe80:0000:0000:0000::1")
    with pytest.raises(ValueError, match="matching regex '\\^fe80'"):
        cls.decode("2001:db8::1")
    with pytest.raises(ValueError, match="formatted as an IPv6 address"):
        cls.decode("fe80-not-an-ip")
    with pytest.raises(TypeError, match="Expected `str`, got `int`"):
        cls.decode(5)


def test_each_compiler_builds_its_own_format_types_once() -> None:
    with API("a") as api:
        pass
    with Type("T"):
        Attribute("a", String, format=IPv6)
        Attribute("b", String, format=IPv6)
    first, second = TypeCompiler(api), TypeCompiler(api)
    one = first.struct(api.types["T"]).__annotations__
    assert one["a"] == one["b"]  # one class per combination within a compiler
    other = second.struct(api.types["T"]).__annotations__
    assert other["a"] != one["a"]  # and none shared between two Apps


def test_hooks_reject_types_they_do_not_know() -> None:
    with pytest.raises(NotImplementedError):
        dec_hook(complex, 1)
    with pytest.raises(NotImplementedError):
        enc_hook(object())
    assert enc_hook(formatted_str("ipv6").decode("::1")) == "::1"
