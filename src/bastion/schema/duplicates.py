"""Duplicate keys in a JSON body: proved absent cheaply, or found exactly.

msgspec keeps the last of two equal keys, as most parsers do; some keep the first. When
two parsers on one request's way disagree, the value a proxy checked is not the value
the service uses, so a body that repeats a key within one object is refused.

Finding duplicates exactly needs a second, slower parse, so the valid path first tries
to prove there are none by counting. Every key in a JSON text is followed by a colon,
and a colon elsewhere sits inside a string, so a body has at most as many keys as
colons. Two proofs, cheapest first:

1. Fields: each field of the decoded Struct that is set (and has no default that could
   have set it) was a distinct key of the body. If the body has no more colons than
   that, every colon is one of those keys, and none repeats. A flat body without
   colons in its strings passes here.
2. Re-encoding: msgspec decodes the body again as plain data (a repeated key keeps one
   entry) and encodes it. That text holds each key once and each string as it was,
   except that a `\\u003a` escape comes back as a colon. So if a key repeated, it has
   fewer colons than the body's colons and `\\u` escapes together.

When neither proves it, `duplicate_keys` parses the body again and names each repeated
key.

MessagePack and CBOR bodies merge repeated keys the same way when decoded (msgspec and
cbor2 keep the last), and neither decoder reports a repeat. Their proof is the decode
itself: if encoding the decoded value gives the body back byte for byte, no entry was
merged (a merged map would be written with fewer entries than the body declares).
Clients that write the shortest forms, as msgspec, msgpack and cbor2 do, pass there in
C. Other bodies are walked once by `map_repeated_keys`, which reads only the structure
(headers and lengths) and decodes only the keys: linear in the body's items and bounded
by the body limit, about the cost of the JSON path's second parse.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterator
from typing import Any, Final

import msgspec

__all__ = ["DuplicateKeys", "cbor_items", "duplicate_keys", "map_repeated_keys", "msgpack_items"]


_NONE: list[str] = []  # shared, never written: the common answer allocates nothing


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as the list of its (key, value) pairs, duplicates kept."""

    __slots__ = ()


class DuplicateKeys:
    """Checks one body type's requests for repeated keys; built once per decoder.

    `struct` is the Struct class the body decodes into (None when the body is not an
    object); `encode` is a JSON encoder; `root` names the body in field paths (`""` when
    the body is an object, so its members are named as the client wrote them, `"body"`
    otherwise).
    """

    __slots__ = ("_countable", "_encode", "_many", "_one", "_sure", "root")

    def __init__(
        self, struct: type[msgspec.Struct] | None, encode: Callable[[Any], bytes], root: str
    ) -> None:
        self._encode = encode
        self.root = root
        self._sure = 1  # two keys at least make a duplicate
        self._countable = 0
        self._one: Callable[[Any], Any] | None = None
        self._many: Callable[[Any], tuple[Any, ...]] | None = None
        if struct is not None:
            # The class's own tables, not msgspec.structs.fields: that one evaluates the
            # annotations again, which needs the generated module the compiler let go.
            fields: tuple[str, ...] = struct.__struct_fields__
            defaults: tuple[Any, ...] = struct.__struct_defaults__
            padded = (msgspec.NODEFAULT,) * (len(fields) - len(defaults)) + defaults
            # Fields a default may fill tell nothing of the body; the others, when set,
            # each were a key. Required ones always are (the decode succeeded).
            required = sum(d is msgspec.NODEFAULT for d in padded)
            optional = [f for f, d in zip(fields, padded, strict=True) if d is None]
            self._sure = max(1, required)
            self._countable = required + len(optional)
            if len(optional) == 1:
                self._one = operator.attrgetter(optional[0])
            elif optional:
                self._many = operator.attrgetter(*optional)

    def find(self, body: bytes, value: Any) -> list[str]:
        """Return the path of every repeated key in `body`, which decoded into `value`."""
        colons = body.count(b":")
        if colons <= self._sure:
            return _NONE
        if colons <= self._countable:
            # Required fields are set; each optional one that is set was sent as well.
            if self._one is not None:
                unset = 1 if self._one(value) is None else 0
            else:
                unset = self._many(value).count(None) if self._many is not None else 0
            if colons <= self._countable - unset:
                return _NONE
        kept = self._encode(msgspec.json.decode(body)).count(b":")
        if kept >= colons and kept >= colons + body.count(b"\\u"):
            return _NONE
        return duplicate_keys(body, self.root)


def duplicate_keys(body: bytes, root: str = "") -> list[str]:
    """Return the path of every key that repeats within one object of JSON `body`.

    Paths read like validation errors: `amount`, `items[0].sku`; `root` is put in
    front of them. A body that is not JSON has none (the decoder reports it). A body
    nested past Python's recursion limit raises `RecursionError`: it cannot be checked,
    so it must not be let through.
    """
    try:
        # Numbers stay text: they are not needed, and big ones would hit int's limit.
        tree = json.loads(
            body, object_pairs_hook=_Pairs, parse_int=str, parse_float=str, parse_constant=str
        )
    except ValueError:
        return []
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(tree, root)]
    while stack:  # a loop, not recursion: a valid body may nest deeper than the stack
        node, path = stack.pop()
        if isinstance(node, _Pairs):
            seen: set[str] = set()
            prefix = f"{path}." if path else ""
            children = []
            for key, value in node:
                if key in seen:
                    if prefix + key not in found:
                        found.append(prefix + key)
                else:
                    seen.add(key)
                children.append((value, prefix + key))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node))))
    return found


# -- MessagePack and CBOR ------------------------------------------------------------------

# What a binary body's item is, as its reader yields it: a value read whole, or the head of
# a container (its count of items, or of pairs for a map; -1 until a break), or a break.
_VALUE, _ARRAY, _MAP, _BREAK = 0, 1, 2, 3

Item = tuple[int, int, int, int]
"""(what, count, start, end): the item's kind, its count (containers) and its bytes."""


def map_repeated_keys(
    items: Iterator[Item], key_of: Callable[[int, int], Any], root: str = ""
) -> list[str]:
    """Return the path of every key that repeats within one map of a binary body.

    `items` are the body's items in order (`msgpack_items`, `cbor_items`); `key_of(start,
    end)` decodes a key from its bytes. Paths read as `duplicate_keys` names them. A map
    whose keys are containers is left alone: such a body has no JSON form, and the
    decoder refuses it for that.
    """
    found: list[str] = []
    # One frame per open container: [items left (-1: until a break), is a map, its path,
    # items seen, keys seen, the current key].
    stack: list[list[Any]] = []
    began = False
    for what, count, start, end in items:
        if began and not stack:
            raise ValueError(f"bytes after the body's item, at {start}")
        began = True
        if what == _BREAK:
            if not stack or stack[-1][0] >= 0:
                raise ValueError(f"a break outside an indefinite-length item, at {start}")
            stack.pop()
            _completed(stack)
            continue
        path = root
        if stack:
            top = stack[-1]
            seen = top[3]
            top[3] += 1
            if top[1]:
                if seen % 2 == 0:  # a key
                    if what != _VALUE:
                        return found  # a container as a key: no JSON form (refused later)
                    key = key_of(start, end)
                    named = f"{top[2]}.{key}" if top[2] else str(key)
                    if key in top[4]:
                        if named not in found:
                            found.append(named)
                    else:
                        top[4].add(key)
                    top[5] = named
                    _completed(stack)
                    continue
                path = top[5]
            else:
                path = f"{top[2]}[{seen}]"
        if what == _VALUE or count == 0:
            _completed(stack)
        else:
            stack.append([count * 2 if what == _MAP and count > 0 else count, what == _MAP,
                          path, 0, set(), ""])
    return found


def _completed(stack: list[list[Any]]) -> None:
    """One item of the innermost container is complete: close the containers it fills."""
    while stack:
        top = stack[-1]
        if top[0] < 0:
            return  # ends at its break
        top[0] -= 1
        if top[0]:
            return
        stack.pop()  # full: it is itself an item of the container below, complete now


_MP_FIXED: Final = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4,
                    0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5,
                    0xD7: 9, 0xD8: 17}
# bin 8/16/32 and str 8/16/32: bytes of their length; ext 8/16/32 also have a type byte.
_MP_SIZED: Final = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
_MP_EXT: Final = {0xC7: 1, 0xC8: 2, 0xC9: 4}
_MP_CONTAINERS: Final = {0xDC: (_ARRAY, 2), 0xDD: (_ARRAY, 4), 0xDE: (_MAP, 2), 0xDF: (_MAP, 4)}


def msgpack_items(data: bytes) -> Iterator[Item]:
    """The items of a MessagePack body that decoded (so it is well formed), in order."""
    pos, size = 0, len(data)
    while pos < size:
        start = pos
        head = data[pos]
        pos += 1
        if head <= 0x7F or head >= 0xE0:  # fixint
            yield _VALUE, 0, start, pos
        elif head <= 0x8F:
            yield _MAP, head & 0x0F, start, pos
        elif head <= 0x9F:
            yield _ARRAY, head & 0x0F, start, pos
        elif head <= 0xBF:  # fixstr
            pos += head & 0x1F
            yield _VALUE, 0, start, pos
        elif head in _MP_FIXED:
            pos += _MP_FIXED[head]
            yield _VALUE, 0, start, pos
        elif head in _MP_SIZED or head in _MP_EXT:
            width = _MP_SIZED.get(head) or _MP_EXT[head]
            pos += width + int.from_bytes(data[pos:pos + width], "big") + (head in _MP_EXT)
            yield _VALUE, 0, start, pos
        elif head in _MP_CONTAINERS:
            what, width = _MP_CONTAINERS[head]
            count = int.from_bytes(data[pos:pos + width], "big")
            pos += width
            yield what, count, start, pos
        else:
            raise ValueError(f"not MessagePack: byte 0x{head:02x} at {start}")


def cbor_items(data: bytes) -> Iterator[Item]:
    """The items of a CBOR body that decoded (so it is well formed), in order.

    A tag belongs to the item it tags (its bytes start at the tag); an indefinite-length
    string is one item, its chunks read through.
    """
    pos, size = 0, len(data)
    tagged = -1  # where the tags in front of the next item start
    while pos < size:
        start = pos if tagged < 0 else tagged
        head = data[pos]
        pos += 1
        major, info = head >> 5, head & 0x1F
        if info < 24:
            arg = info
        elif info < 28:
            width = 1 << (info - 24)
            arg = int.from_bytes(data[pos:pos + width], "big")
            pos += width
        elif info == 31:
            arg = -1
        else:
            raise ValueError(f"not CBOR: byte 0x{head:02x} at {pos - 1}")
        if major == 6:  # a tag: part of the next item
            tagged = start
            continue
        tagged = -1
        if major == 7 and info == 31:
            yield _BREAK, 0, start, pos
        elif major in (2, 3):
            if arg >= 0:
                pos += arg
            else:  # chunks of definite length until a break
                while data[pos] != 0xFF:
                    chunk = data[pos] & 0x1F
                    pos += 1
                    if chunk < 24:
                        length = chunk
                    else:
                        width = 1 << (chunk - 24)
                        length = int.from_bytes(data[pos:pos + width], "big")
                        pos += width
                    pos += length
                pos += 1
            yield _VALUE, 0, start, pos
        elif major == 4:
            yield _ARRAY, arg, start, pos
        elif major == 5:
            yield _MAP, arg, start, pos
        else:  # integers, simple values and floats: their argument was the whole item
            yield _VALUE, 0, start, pos
