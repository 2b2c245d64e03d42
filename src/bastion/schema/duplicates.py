"""Duplicate keys in a JSON body: proved absent cheaply, or found exactly.

msgspec keeps the last of two equal keys, as most parsers do; some keep the first. When
two parsers on one request's way disagree, the value a proxy checked is not the value
the service uses, so a body that repeats a key within one object is refused.

Finding duplicates exactly needs a second, slower parse, so the valid path first tries
to prove there are none by counting. Every key in a JSON text is followed by a colon,
and a colon elsewhere sits inside a string. Re-encoding the decoded value writes each
key it kept once and each string it kept as it was, except that an escape such as
`\\u003a` may come back as a colon. So if a key was dropped (a duplicate, an unknown
key, an explicit `null`), the re-encoded value has fewer colons than the body has
colons and backslashes together. When the counts say nothing was dropped, there is no
duplicate; otherwise `duplicate_keys` parses the body again and names each one.

The proof needs the re-encoded value to hold nothing the body did not: a default that
msgspec writes when the field is absent (a non-empty list or map default) would add
colons, so types that have one always take the exact check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bastion.dsl.expr import ArrayExpr, AttributeExpr, MapExpr, ObjectExpr, UserTypeExpr

__all__ = ["DuplicateKeys", "duplicate_keys"]


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as the list of its (key, value) pairs, duplicates kept."""

    __slots__ = ()


class DuplicateKeys:
    """Checks one body type's requests for repeated keys; built once per decoder.

    `encode` is the encoder of decoded values; `root` names the body in field paths
    (`""` when the body is an object, so its members are named as the client wrote
    them, `"body"` otherwise).
    """

    __slots__ = ("_encode", "_fast", "root")

    def __init__(self, attr: AttributeExpr, encode: Callable[[Any], bytes], root: str) -> None:
        self._encode = encode
        self._fast = not _writes_defaults(attr)
        self.root = root

    def find(self, body: bytes, value: Any) -> list[str]:
        """Return the path of every repeated key in `body`, which decoded into `value`."""
        colons = body.count(b":")
        if colons < 2:
            return []  # two keys at least make a duplicate
        if self._fast:
            kept = self._encode(value).count(b":")
            if kept >= colons and kept >= colons + body.count(b"\\"):
                return []
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


def _writes_defaults(attr: AttributeExpr) -> bool:
    """True when a value of `attr` may encode a default the client never sent."""
    seen: set[int] = set()
    stack = [attr]
    while stack:
        a = stack.pop()
        if a.has_default and isinstance(a.default, list | dict) and a.default:
            return True
        t = a.type
        if isinstance(t, UserTypeExpr | ObjectExpr):
            obj = t.object if isinstance(t, UserTypeExpr) else t
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            stack.extend(obj.attributes.values())
        elif isinstance(t, ArrayExpr):
            stack.append(t.elem)
        elif isinstance(t, MapExpr):
            stack.extend((t.key, t.elem))
    return False
