"""The router: compiled once, it finds a route by walking path segments, never by regex.

Static paths are one dict lookup. Paths with parameters walk a tree of segments in
precedence order — a static child, then a `{param}` child, then a `{*wildcard}` (the rest
of the path) — and the first route on that walk that serves the verb wins, so
`DELETE /files/{id}` does not hide `GET /files/{*path}`. Each route keeps its own
parameter names, so `GET /items/{id}` and `DELETE /items/{item_id}` can share a segment.
A known path with the wrong verb is told apart from an unknown path, so the muxer can
answer 405 with an `Allow` header listing every verb that serves the path.

Routing reads the path as the client sent it (ASGI's `raw_path`): it is split on `/`
first and each segment is percent-decoded after, so an encoded slash (`%2F`) stays
inside its segment. `POST /orders/7%2Fcancel` is order `7/cancel`, never the `cancel`
route of order 7 — a proxy rule written for `/orders/*/cancel` sees the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote_to_bytes

from bastion.errors import BastionError

__all__ = ["Match", "RouteClash", "Router"]

H = TypeVar("H")


class RouteClash(BastionError, ValueError):
    """Two handlers were registered for the same verb and path template."""


@dataclass(slots=True)
class _Node(Generic[H]):
    static: dict[str, _Node[H]] = field(default_factory=dict)
    param: _Node[H] | None = None
    # verb -> (handler, names of the route's parameters in path order)
    wildcard: dict[str, tuple[H, tuple[str, ...]]] | None = None
    handlers: dict[str, tuple[H, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match(Generic[H]):
    """The result of a lookup: a handler and path params, or a 404/405 marker."""

    handler: H | None
    params: dict[str, str]
    allow: str | None = None  # set when the path exists but not for this verb


class Router(Generic[H]):
    """Maps (verb, path) to a handler. Add every route, then `compile`."""

    def __init__(self) -> None:
        self._root: _Node[H] = _Node()
        self._static: dict[str, dict[str, H]] = {}
        self._static_allow: dict[str, str] = {}
        # Static hits need no new objects: one prebuilt Match per (path, verb). Public
        # as `prebuilt`, for a caller that inlines the static lookup (the muxer).
        self._static_match: dict[str, dict[str, Match[H]]] = {}
        self.prebuilt: Mapping[str, Mapping[str, Match[H]]] = self._static_match
        self._has_dynamic = False
        self._templates: set[tuple[str, str]] = set()

    def add(self, verb: str, template: str, handler: H) -> None:
        """Register `handler` for `verb template`; raise `RouteClash` if it is taken."""
        segments = _split(template)
        shape = "/".join(
            ("{*}" if s.startswith("{*") else "{}") if s.startswith("{") else s for s in segments
        )
        if (verb, shape) in self._templates:
            raise RouteClash(f"{verb} {template} is already routed")
        self._templates.add((verb, shape))
        if not any(s.startswith("{") for s in segments):
            self._static.setdefault(_join(segments), {})[verb] = handler
            return
        self._has_dynamic = True
        names = tuple(s[1:-1].lstrip("*") for s in segments if s.startswith("{"))
        node = self._root
        for seg in segments:
            if seg.startswith("{*"):
                if node.wildcard is None:
                    node.wildcard = {}
                node.wildcard[verb] = (handler, names)
                return
            if seg.startswith("{"):
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.static.setdefault(seg, _Node())
        node.handlers[verb] = (handler, names)

    def compile(self) -> None:
        """Precompute static `Allow` headers; serve HEAD with GET where HEAD is not declared."""
        for path, handlers in self._static.items():
            _head_from_get(handlers)
            self._static_allow[path] = ", ".join(sorted(handlers))
            self._static_match[path] = {v: Match(h, _NO_PARAMS) for v, h in handlers.items()}
        stack = [self._root]
        while stack:
            node = stack.pop()
            _head_from_get(node.handlers)
            if node.wildcard is not None:
                _head_from_get(node.wildcard)
            stack.extend(node.static.values())
            if node.param is not None:
                stack.append(node.param)

    def lookup(self, verb: str, path: str, raw_path: bytes | None = None) -> Match[H]:
        """Find the handler for `verb path`.

        `path` is ASGI's percent-decoded path and `raw_path` the path as received; when
        the raw path had escapes decoded, routing splits it before decoding them.
        """
        # Decoding only ever shortens a path: same length, no escape was decoded.
        if raw_path is not None and len(raw_path) != len(path):
            return self._lookup_escaped(verb, raw_path)
        prebuilt = self._static_match.get(path)
        if prebuilt is not None:
            found = prebuilt.get(verb)
            if found is not None:
                return found
        handlers = self._static.get(path)
        if handlers is None and len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
            handlers = self._static.get(path)
        if handlers is not None:
            h = handlers.get(verb)
            if h is not None:
                return self._static_match[path][verb]
        if not self._has_dynamic:
            if handlers is None:
                return _NOT_FOUND  # type: ignore[return-value]
            return Match(None, {}, self._static_allow[path])
        return self._dynamic(verb, _split(path), handlers)

    def _lookup_escaped(self, verb: str, raw_path: bytes) -> Match[H]:
        """Route a raw path with percent-escapes: split on `/`, then decode each segment."""
        raw = raw_path.split(b"?", 1)[0]  # some servers leave the query on raw_path
        segments = [
            unquote_to_bytes(s).decode("utf-8", "replace") for s in raw.strip(b"/").split(b"/")
        ] if raw.strip(b"/") else []
        handlers: dict[str, H] | None = None
        if not any("/" in s for s in segments):
            # No encoded slash: the segments spell a path a static route may serve.
            path = _join(segments)
            handlers = self._static.get(path)
            if handlers is not None:
                if verb in handlers:
                    return self._static_match[path][verb]
                if not self._has_dynamic:
                    return Match(None, {}, self._static_allow[path])
        if not self._has_dynamic:
            return _NOT_FOUND  # type: ignore[return-value]
        return self._dynamic(verb, segments, handlers)

    def _dynamic(self, verb: str, segments: list[str], handlers: dict[str, H] | None) -> Match[H]:
        """Walk the tree for `segments`; `handlers` are the static verbs of the same path."""
        verbs: set[str] = set(handlers) if handlers is not None else set()
        for routes, values in self._matches(self._root, segments, 0, []):
            hit = routes.get(verb)
            if hit is not None:
                return Match(hit[0], dict(zip(hit[1], values, strict=True)))
            verbs.update(routes)
        if not verbs:
            return _NOT_FOUND  # type: ignore[return-value]
        return Match(None, {}, ", ".join(sorted(verbs)))

    def _matches(
        self, node: _Node[H], segs: list[str], i: int, values: list[str]
    ) -> Iterator[tuple[dict[str, tuple[H, tuple[str, ...]]], list[str]]]:
        """Every route matching `segs`, most specific first, with its parameter values."""
        if i == len(segs):
            if node.handlers:
                yield node.handlers, values
        else:
            seg = segs[i]
            child = node.static.get(seg)
            if child is not None:
                yield from self._matches(child, segs, i + 1, values)
            if node.param is not None and seg:
                yield from self._matches(node.param, segs, i + 1, [*values, seg])
        if node.wildcard is not None and i < len(segs):
            yield node.wildcard, [*values, "/".join(segs[i:])]


_NOT_FOUND: Match[object] = Match(None, {})
#: Shared by every static match: handlers read path params, never write them.
_NO_PARAMS: dict[str, str] = {}


def _split(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _join(segments: list[str]) -> str:
    return "/" + "/".join(segments)


def _head_from_get(handlers: dict[str, H]) -> None:
    # HTTP says HEAD is GET without the body; the encoder drops the body for HEAD.
    if "GET" in handlers and "HEAD" not in handlers:
        handlers["HEAD"] = handlers["GET"]
