"""The codecs and `Accept` negotiation of bastion.http.codecs."""

from __future__ import annotations

import datetime

import cbor2
import msgspec
import pytest

from bastion.http.codecs import CBOR, JSON, MSGPACK, TEXT, Codec, Codecs, choose, parse_accept


class Point(msgspec.Struct):
    x: int
    label: str
    raw: bytes
    at: datetime.datetime


POINT = Point(1, "a", b"\x00\xff", datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC))


def test_accept_ranges_are_sorted_by_quality_then_specificity() -> None:
    ranges = parse_accept("*/*;q=0.1, text/*;q=0.5, application/cbor, application/json;q=0.5")
    assert ranges == [("application/cbor", 1.0), ("application/json", 0.5),
                      ("text/*", 0.5), ("*/*", 0.1)]


def test_malformed_accept_ranges_are_dropped() -> None:
    assert parse_accept("nonsense, application/json;q=x, text/plain;q=2, , a/b") == [
        ("a/b", 1.0)]


@pytest.mark.parametrize(("accept", "chosen"), [
    ("application/cbor", "application/cbor"),
    ("application/x-msgpack", "application/msgpack"),
    ("application/vnd.acme+json", "application/json"),
    ("*/*", "application/json"),
    ("text/*", "text/plain"),
    ("application/json;q=0, */*", "application/msgpack"),
    ("application/cbor;q=0.2, application/msgpack;q=0.8", "application/msgpack"),
])
def test_the_preferred_acceptable_codec_is_chosen(accept: str, chosen: str) -> None:
    codec = choose(list(Codecs()), accept)
    assert codec is not None and codec.media_type == chosen


def test_nothing_acceptable_is_none() -> None:
    assert choose(list(Codecs()), "text/csv, image/*") is None
    structured = Codecs().offered(text=False)
    assert choose(structured, "text/plain") is None


@pytest.mark.parametrize("codec", [JSON, MSGPACK, CBOR])
def test_structured_codecs_carry_structs_and_read_back_builtins(codec: Codec) -> None:
    value = codec.decode(codec.encode(POINT))
    assert value["x"] == 1 and value["label"] == "a"


def test_cbor_keeps_bytes_binary() -> None:
    assert cbor2.loads(CBOR.encode(POINT))["raw"] == b"\x00\xff"


def test_text_carries_strings_and_bytes_only() -> None:
    assert TEXT.encode("héllo") == "héllo".encode()
    assert TEXT.encode(b"\x00") == b"\x00"
    with pytest.raises(TypeError, match="String or Bytes"):
        TEXT.encode({"a": 1})
    assert not TEXT.structured


def test_a_registered_codec_replaces_the_one_of_its_media_type() -> None:
    codecs = Codecs()
    mine = Codec("application/cbor", lambda v: b"mine", lambda b: {})
    codecs.add(mine)
    assert codecs.get("application/cbor") is mine
    assert len(codecs) == 4
    assert codecs.get("application/problem+json") is JSON
    assert codecs.get("text/csv") is None
