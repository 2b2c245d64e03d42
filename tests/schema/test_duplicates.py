"""Repeated keys in MessagePack and CBOR bodies: found by reading the body's structure."""

from __future__ import annotations

from typing import Any

import cbor2
import msgspec
import pytest

from bastion.http.codecs import CBOR, MSGPACK, Codec
from bastion.schema.duplicates import cbor_items, map_repeated_keys, msgpack_items


def repeated(codec: Codec, data: bytes, root: str = "") -> list[str]:
    assert codec.repeated_keys is not None
    return codec.repeated_keys(data, codec.decode(data), root)


def mp_str(text: str, *, wide: bool = False) -> bytes:
    """A MessagePack string, as str 8 when `wide` (not the shortest form for short text)."""
    raw = text.encode()
    return (bytes([0xD9, len(raw)]) if wide else bytes([0xA0 | len(raw)])) + raw


# {"items": [{}, {"sku": 1, "sku": 2}], "b": 1}: the repeat two levels down.
NESTED_MP = (bytes([0x82]) + mp_str("items") + bytes([0x92, 0x80, 0x82]) + mp_str("sku")
             + bytes([0x01]) + mp_str("sku") + bytes([0x02]) + mp_str("b") + bytes([0x01]))


def test_a_repeated_msgpack_key_is_named_at_its_path() -> None:
    assert msgspec.msgpack.decode(NESTED_MP) == {"items": [{}, {"sku": 2}], "b": 1}  # merged
    assert repeated(MSGPACK, NESTED_MP) == ["items[1].sku"]
    assert repeated(MSGPACK, NESTED_MP, "body") == ["body.items[1].sku"]
    top = bytes([0x83]) + mp_str("a") + b"\x01" + mp_str("a") + b"\x02" + mp_str("a") + b"\x03"
    assert repeated(MSGPACK, top) == ["a"]  # named once, however often it repeats


def test_msgpack_bodies_without_repeats_pass_in_any_encoding() -> None:
    shortest = msgspec.msgpack.encode({"a": 1, "items": [{"sku": "x", "n": [1, 2.5, None]}]})
    assert repeated(MSGPACK, shortest) == []
    # Not the shortest forms (str 8 keys, int 8 and uint 16 values, map 16, array 16,
    # bin 8, ext): the fast proof cannot decide, the walk finds nothing.
    longer = (bytes([0xDE, 0x00, 0x04]) + mp_str("a", wide=True) + bytes([0xD0, 0x01])
              + mp_str("b", wide=True) + bytes([0xCD, 0x00, 0x02])
              + mp_str("c", wide=True) + bytes([0xDC, 0x00, 0x02, 0xC4, 0x01, 0xFF, 0xC3])
              + mp_str("d", wide=True) + bytes([0xC7, 0x01, 0x05, 0xAA]))
    assert msgspec.msgpack.encode(msgspec.msgpack.decode(longer)) != longer
    assert repeated(MSGPACK, longer) == []


def test_msgpack_keys_are_compared_as_values_not_as_bytes() -> None:
    # "k" as fixstr and as str 8: the same key written two ways.
    two_ways = bytes([0x82]) + mp_str("k") + b"\x01" + mp_str("k", wide=True) + b"\x02"
    assert msgspec.msgpack.decode(two_ways) == {"k": 2}
    assert repeated(MSGPACK, two_ways) == ["k"]


# {_ "b": [_ {"c": 1, (_ "c"): 2}]}: indefinite map, array and string, the repeat inside.
NESTED_CBOR = bytes([0xBF, 0x61, 0x62, 0x9F, 0xA2, 0x61, 0x63, 0x01, 0x7F, 0x61, 0x63, 0xFF,
                     0x02, 0xFF, 0xFF])


def test_a_repeated_cbor_key_is_named_in_indefinite_and_definite_maps() -> None:
    assert cbor2.loads(NESTED_CBOR) == {"b": [{"c": 2}]}
    assert repeated(CBOR, NESTED_CBOR) == ["b[0].c"]
    flat = bytes([0xA2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02])
    assert repeated(CBOR, flat) == ["a"]


def test_cbor_bodies_without_repeats_pass_in_any_encoding() -> None:
    assert repeated(CBOR, cbor2.dumps({"a": 1, "b": [1, {"c": b"\x00"}], "t": 1.5})) == []
    # Indefinite lengths, a tagged value, a half float: the walk decides.
    longer = bytes([0xBF, 0x61, 0x61, 0x9F, 0x01, 0xF9, 0x3C, 0x00, 0xFF, 0x61, 0x62, 0xC1,
                    0x1A, 0x00, 0x00, 0x00, 0x01, 0xFF])
    assert cbor2.dumps(cbor2.loads(longer)) != longer
    assert repeated(CBOR, longer) == []


def test_tagged_cbor_keys_are_compared_with_their_tag() -> None:
    # 1 and tag 1 (epoch time) 1 are different keys once decoded: no repeat.
    keys = bytes([0xA2, 0x01, 0x01, 0xC1, 0x01, 0x02])
    assert len(cbor2.loads(keys)) == 2
    assert repeated(CBOR, keys) == []


@pytest.mark.parametrize(("items", "body"), [
    (msgpack_items, bytes([0x81, 0x92, 0x01, 0x02, 0x03])),  # {[1, 2]: 3}
    (cbor_items, bytes([0xA1, 0x82, 0x01, 0x02, 0x03])),
])
def test_a_container_key_stops_the_walk_without_a_verdict(items: Any, body: bytes) -> None:
    # Such a map has no JSON form: the decoder refuses the body for that (tested end to end).
    assert map_repeated_keys(items(body), lambda a, b: None) == []


@pytest.mark.parametrize(("items", "body"), [
    (cbor_items, bytes([0xA1, 0x61, 0x61, 0x01, 0xFF])),  # a break after the item
    (cbor_items, bytes([0x01, 0x02])),  # two items
    (msgpack_items, bytes([0x01, 0x02])),
])
def test_a_body_of_more_than_one_item_is_not_read_as_one(items: Any, body: bytes) -> None:
    with pytest.raises(ValueError, match=r"after the body's item|outside an indefinite"):
        map_repeated_keys(items(body), lambda a, b: None)


def test_cbor_bytes_after_the_item_are_refused_by_the_decoder() -> None:
    # cbor2.loads reads the first item and ignores the rest; another parser may not.
    with pytest.raises(ValueError, match="bytes after the CBOR item"):
        CBOR.decode(bytes([0xA1, 0x61, 0x61, 0x01, 0xFF, 0xFF]))
    assert CBOR.decode(cbor2.dumps({"a": [1, b"\x00"]})) == {"a": [1, b"\x00"]}
