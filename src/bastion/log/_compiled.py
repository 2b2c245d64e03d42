"""JSON lines of the common shape, with the context's part encoded once per context.

Most lines of a service are written inside a request: the same context fields
(`request_id`, `service`, `method`), the same trace ids and `service.name`, then a few
standard keys of their own (the request log's `http.*` pairs). The general path merges,
classifies and orders every pair of every line; this one encodes the context's part once
per context and span, and each line then only encodes its own pairs and joins the pieces.

A line takes this path when its shape allows it, and the output is byte for byte what
the general path writes (a property test holds them to that):

- the Logger has one JSON output, no key renames, no `file` location nor key functions;
- the line has no `err`, a `str` message, and no container value anywhere;
- its own pairs are standard keys, in their standard order, each ranked after every
  standard key of its context (so the order of the whole line is the context's part,
  then the line's pairs, then the context's other fields);
- the line is short enough that no value can need cutting, and has at most `max_keys`
  pairs.

Any other line returns None here and takes the general path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Final

from opentelemetry import trace as otel_trace

from bastion.log._format import CONTAINERS, RESERVED_KEYS, STANDARD_KEYS, JSONFormat

__all__ = ["CompiledJSON"]

_RANK: Final = {key: i for i, key in enumerate(STANDARD_KEYS)}
#: Shapes of a line's own pairs remembered at most (a service has a handful).
_MAX_SHAPES: Final = 256
_NOT_STANDARD: Final = len(STANDARD_KEYS)
#: The "lowest rank" of a line with no pairs of its own: after any context.
_NO_PAIRS: Final = _NOT_STANDARD + 1


class _Context:
    """The encoded part of one context: its standard pairs and its other fields."""

    __slots__ = ("count", "fields", "head", "service", "span", "tail", "top")

    def __init__(self, fields: Mapping[str, object], span: object, service: str | None,
                 head: bytes, tail: bytes, top: int, count: int) -> None:
        self.fields = fields
        self.span = span
        self.service = service
        self.head = head  # `"trace_id":"…","request_id":"…"`, without braces
        self.tail = tail  # the context's other fields, after the line's own pairs
        self.top = top  # the highest standard rank in `head` (-1: none)
        self.count = count  # pairs in head and tail


class CompiledJSON:
    """Render lines of the common shape for one Logger's JSON output (see the module)."""

    __slots__ = ("_context", "_encode", "_format", "_ids", "_limit", "_max_keys", "_shapes")

    def __init__(
        self,
        fmt: JSONFormat,
        *,
        max_keys: int,
        ids: Callable[[otel_trace.SpanContext], tuple[str, str]],
    ) -> None:
        self._format = fmt
        self._encode = fmt.encoder
        self._limit = fmt.max_size
        self._max_keys = max_keys
        self._ids = ids
        self._context: _Context | None = None
        # A line's own keys -> the lowest rank among them, or _NOT_STANDARD when they are
        # not standard keys in standard order.
        self._shapes: dict[tuple[str, ...], int] = {}

    def line(
        self,
        t: float,
        rank: int,
        msg: object,
        fields: Mapping[str, object],
        kv: Mapping[str, object],
        span: otel_trace.SpanContext | None,
        service: str | None,
    ) -> str | None:
        """The line, or None when its shape needs the general path.

        `service` is the Logger's `service.name` for lines that do not set one.
        """
        if type(msg) is not str:
            return None
        keys = tuple(kv)
        lowest = self._shapes.get(keys)
        if lowest is None:
            lowest = self._shape(keys)
        if lowest == _NOT_STANDARD or not CONTAINERS.isdisjoint(map(type, kv.values())):
            return None
        context = self._context
        if (context is None or context.fields is not fields or context.span is not span
                or context.service is not service):
            context = self._encode_context(fields, span, service)
            if context is None:
                return None
        if context.top >= lowest or context.count + len(keys) > self._max_keys:
            return None
        try:
            start = self._format.start(t, rank, msg)
            own = self._encode(kv)
        except Exception:  # e.g. lone surrogates: the general path escapes them
            return None
        parts = [start[:-1]]
        if context.head:
            parts.append(context.head)
        if len(own) > 2:
            parts.append(own[1:-1])
        if context.tail:
            parts.append(context.tail)
        data = b",".join(parts) + b"}"
        if len(data) > self._limit:
            return None
        return data.decode() + "\n"

    def _shape(self, keys: tuple[str, ...]) -> int:
        ranks = [_RANK.get(key, _NOT_STANDARD) for key in keys]
        if not ranks:
            lowest = _NO_PAIRS
        elif ranks[-1] != _NOT_STANDARD and all(a < b for a, b in itertools.pairwise(ranks)):
            lowest = ranks[0]
        else:
            lowest = _NOT_STANDARD
        if len(self._shapes) >= _MAX_SHAPES:
            self._shapes.clear()
        self._shapes[keys] = lowest
        return lowest

    def _encode_context(self, fields: Mapping[str, object], span: otel_trace.SpanContext | None,
                        service: str | None) -> _Context | None:
        standard: dict[str, object] = {}
        rest: dict[str, object] = {}
        pairs = 0  # as the general path counts them: `time` and `fields.time` are two
        for key, value in fields.items():
            if type(value) in CONTAINERS:
                return None
            if key in _RANK:
                standard[key] = value
                continue
            pairs += 1
            if key in RESERVED_KEYS:
                rest["fields." + key] = value
            else:
                rest[key] = value
        if "err" in standard or not self._format.line_keys.isdisjoint(rest):
            return None  # an error's text needs care; a field named like `time` overwrites it
        if span is not None:
            standard["trace_id"], standard["span_id"] = self._ids(span)
        if service is not None and "service.name" not in standard:
            standard["service.name"] = service
        ordered = {key: standard[key] for key in STANDARD_KEYS if key in standard}
        top = _RANK[next(reversed(ordered))] if ordered else -1  # the last is ranked highest
        try:
            head = self._encode(ordered)[1:-1]
            tail = self._encode(rest)[1:-1]
        except Exception:
            return None
        context = _Context(fields, span, service, head, tail, top, len(ordered) + pairs)
        self._context = context
        return context
