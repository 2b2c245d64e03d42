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
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["DuplicateKeys", "duplicate_keys"]


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

