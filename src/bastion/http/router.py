"""The router: compiled once, it finds a route by walking path segments, never by regex.

Static paths are one dict lookup. Paths with parameters walk a tree of segments where
a static child beats a `{param}` child, which beats a `{*wildcard}` (the rest of the
path). A known path with the wrong verb is told apart from an unknown path, so the
muxer can answer 405 with `Allow` instead of 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Match", "Router"]

H = TypeVar("H")


@dataclass(slots=True)
class _Node(Generic[H]):
    static: dict[str, _Node[H]] = field(default_factory=dict)
    param: _Node[H] | None = None
    param_name: str = ""
    wildcard: dict[str, H] | None = None
    wildcard_name: str = ""
    wildcard_allow: str = ""
    handlers: dict[str, H] = field(default_factory=dict)
    allow: str = ""


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
        self._has_dynamic = False

    def add(self, verb: str, template: str, handler: H) -> None:
        """Register `handler` for `verb template`; the design check ruled out collisions."""
        segments = _split(template)
        if not any(s.startswith("{") for s in segments):
            self._static.setdefault(_join(segments), {})[verb] = handler
            return
        self._has_dynamic = True
        node = self._root
        for seg in segments:
            if seg.startswith("{*"):
                if node.wildcard is None:
                    node.wildcard = {}
                node.wildcard[verb] = handler
                node.wildcard_name = seg[2:-1]
                return
            if seg.startswith("{"):
                if node.param is None:
                    node.param = _Node()
                node.param_name = seg[1:-1]
                node = node.param
            else:
                node = node.static.setdefault(seg, _Node())
        node.handlers[verb] = handler

    def compile(self) -> None:
        """Precompute `Allow` headers (and HEAD from GET where HEAD is not declared)."""
        for path, handlers in self._static.items():
            _head_from_get(handlers)
            self._static_allow[path] = _allow(handlers)
        stack = [self._root]
        while stack:
            node = stack.pop()
            _head_from_get(node.handlers)
            node.allow = _allow(node.handlers)
            if node.wildcard is not None:
                _head_from_get(node.wildcard)
                node.wildcard_allow = _allow(node.wildcard)
            stack.extend(node.static.values())
            if node.param is not None:
                stack.append(node.param)

    def lookup(self, verb: str, path: str) -> Match[H]:
        """Find the handler for `verb path` (ASGI's already percent-decoded `path`)."""
        handlers = self._static.get(path)
        if handlers is None and len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
            handlers = self._static.get(path)
        if handlers is not None:
            h = handlers.get(verb)
            if h is not None:
                return Match(h, {})
            if not self._has_dynamic:
                return Match(None, {}, self._static_allow[path])
            dynamic = self._walk(verb, path)
            if dynamic.handler is not None:
                return dynamic
            return Match(None, {}, self._static_allow[path])
        if not self._has_dynamic:
            return _NOT_FOUND  # type: ignore[return-value]
        return self._walk(verb, path)

    def _walk(self, verb: str, path: str) -> Match[H]:
        segments = _split(path)
        params: dict[str, str] = {}
        found = self._descend(self._root, segments, 0, params)
        if found is None:
            return _NOT_FOUND  # type: ignore[return-value]
        handlers, allow = found
        h = handlers.get(verb)
        if h is None:
            return Match(None, {}, allow)
        return Match(h, params)

    def _descend(
        self, node: _Node[H], segs: list[str], i: int, params: dict[str, str]
    ) -> tuple[dict[str, H], str] | None:
        if i == len(segs):
            if node.handlers:
                return node.handlers, node.allow
            return None
        seg = segs[i]
        child = node.static.get(seg)
        if child is not None:
            found = self._descend(child, segs, i + 1, params)
            if found is not None:
                return found
        if node.param is not None and seg:
            found = self._descend(node.param, segs, i + 1, params)
            if found is not None:
                params[node.param_name] = seg
                return found
        if node.wildcard is not None:
            params[node.wildcard_name] = "/".join(segs[i:])
            return node.wildcard, node.wildcard_allow
        return None


_NOT_FOUND: Match[object] = Match(None, {})


def _split(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _join(segments: list[str]) -> str:
    return "/" + "/".join(segments)


def _head_from_get(handlers: dict[str, H]) -> None:
    # HTTP says HEAD is GET without the body; the encoder drops the body for HEAD.
    if "GET" in handlers and "HEAD" not in handlers:
        handlers["HEAD"] = handlers["GET"]


def _allow(handlers: dict[str, H]) -> str:
    return ", ".join(sorted(handlers))
