"""Mocks of a service's dependencies, with the semantics of Clue's `mock` package.

A test scripts what a dependency answers, runs the code under test, then checks that
every call it expected happened::

    orders = Mock("orders")
    orders.add("show", lambda p: {"id": p.id, "status": "open"})   # the first call
    orders.set("list", lambda p: {"orders": [], "total": 0})       # any later call
    ...                                       # the code under test calls orders.next(...)
    orders.assert_done()                      # fails naming every call that did not happen

`add` appends to one sequence of expected calls, consumed in the order they were added
whatever the method; `set` gives a method a permanent answer, used once the sequence
holds no more calls of that method. `bastion gen mocks` writes a typed class per service
of a design on top of `Mock`, and `HTTPMock` scripts the answers of a server that the
traced HTTP client (`bastion.otel.client()`, `sync_client()`) calls.
"""

from __future__ import annotations

import inspect
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx

from bastion import otel

__all__ = [
    "HTTPMock",
    "Mock",
    "Responder",
    "UnexpectedCall",
    "json_response",
    "resolve",
]

_T = TypeVar("_T")

# Frames of modules that set this global are skipped when a call is located, so an
# expected call is reported at the line of the test that added it, not of a mock.
__bastion_mock__ = True


class UnexpectedCall(AssertionError):
    """A mock was called when no call of that method was expected (or out of order)."""


@dataclass(frozen=True, slots=True)
class _Expected:
    method: str
    fn: Any
    where: str


def _caller() -> str:
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__bastion_mock__"):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class Mock:
    """Expected calls of one dependency: a sequence (`add`) and permanent answers (`set`).

    Thread-safe: sync service methods run in a thread pool. `name` labels messages.
    """

    def __init__(self, name: str = "mock") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._sequence: list[_Expected] = []
        self._pos = 0
        self._permanent: dict[str, Any] = {}
        self._unexpected: list[str] = []

    def add(self, method: str, fn: Any) -> None:
        """Append `fn` to the sequence: the next call of `method`, in the order added."""
        with self._lock:
            self._sequence.append(_Expected(method, fn, _caller()))

    def set(self, method: str, fn: Any) -> None:
        """Answer every call of `method` with `fn` once the sequence has none of it left."""
        with self._lock:
            self._permanent[method] = fn

    def next(self, method: str) -> Any:
        """Return what a call of `method` runs now: the next in sequence, or the permanent one.

        Raises `UnexpectedCall` naming the method (and what was expected instead) when
        the sequence expects another method first, or when nothing is expected of this
        one; the call is also remembered, so `assert_done` reports it even if the code
        under test swallowed the error.
        """
        with self._lock:
            pending = self._sequence[self._pos:]
            if pending and pending[0].method == method:
                self._pos += 1
                return pending[0].fn
            waiting = [e for e in pending if e.method == method]
            if not waiting and method in self._permanent:
                return self._permanent[method]
            if waiting:
                why = (f"call {self._pos + 1} of the sequence is {pending[0].method!r} "
                       f"(added at {pending[0].where}), but {method!r} was called first")
            elif pending:
                why = (f"no call of {method!r} is expected; the next expected call is "
                       f"{pending[0].method!r} (added at {pending[0].where})")
            else:
                why = f"no call of {method!r} is expected and every expected call happened"
            message = f"{self.name} mock: unexpected call of {method!r}: {why}"
            self._unexpected.append(message)
        raise UnexpectedCall(message)

    def has_more(self) -> bool:
        """Whether the sequence still holds expected calls."""
        with self._lock:
            return self._pos < len(self._sequence)

    def remaining(self) -> list[str]:
        """The methods of the expected calls that have not happened yet, in order."""
        with self._lock:
            return [e.method for e in self._sequence[self._pos:]]

    def assert_done(self) -> None:
        """Fail naming every expected call that did not happen, and every unexpected one."""
        with self._lock:
            missing = self._sequence[self._pos:]
            unexpected = list(self._unexpected)
        if not missing and not unexpected:
            return
        parts = []
        if missing:
            start = len(self._sequence) - len(missing) + 1
            calls = "; ".join(f"#{start + i} {e.method!r} (added at {e.where})"
                              for i, e in enumerate(missing))
            noun = "call" if len(missing) == 1 else "calls"
            parts.append(f"{len(missing)} expected {noun} did not happen: {calls}")
        if unexpected:
            noun = "call" if len(unexpected) == 1 else "calls"
            parts.append(f"{len(unexpected)} unexpected {noun}: " + "; ".join(unexpected))
        raise AssertionError(f"{self.name} mock: " + ". ".join(parts))


#: What an `HTTPMock` answers with: a response, or a function of the request returning one.
Responder = httpx.Response | Callable[[httpx.Request], "httpx.Response | Awaitable[httpx.Response]"]

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}")


def _route_pattern(template: str) -> re.Pattern[str]:
    # "/orders/{id}" -> one segment; "/files/{*path}" -> the rest of the path.
    out, last = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[last:m.start()]))
        out.append(f"(?P<{m.group(2)}>.*)" if m.group(1) else f"(?P<{m.group(2)}>[^/]+)")
        last = m.end()
    out.append(re.escape(template[last:]))
    return re.compile("".join(out))


class HTTPMock:
    """A scripted HTTP server for the traced client: answers per method and path, recorded.

    `add("POST", "/check", httpx.Response(200, json=...))` expects one request, in
    sequence with the others; `set(...)` answers every later one. Paths are templates as
    in a design (`/orders/{id}`, `/files/{*path}`). `client()` and `sync_client()` are
    Bastion's traced clients (spans, `traceparent`, call logs) whose transport is this
    mock, so only the network is replaced. Every request is kept in `requests`.
    """

    def __init__(self, name: str = "http", *, base_url: str = "http://mock.invalid") -> None:
        self.mock = Mock(name)
        self.base_url = base_url
        self.requests: list[httpx.Request] = []
        self._routes: list[tuple[str, str, re.Pattern[str]]] = []

    def _key(self, method: str, path: str) -> str:
        verb = method.upper()
        if not any(v == verb and t == path for v, t, _ in self._routes):
            self._routes.append((verb, path, _route_pattern(path)))
            # Static paths first, so "/orders/stats" wins over "/orders/{id}".
            self._routes.sort(key=lambda r: "{" in r[1])
        return f"{verb} {path}"

    def add(self, method: str, path: str, response: Responder) -> None:
        """Expect one `method` request on `path`, next in sequence, answered `response`."""
        self.mock.add(self._key(method, path), response)

    def set(self, method: str, path: str, response: Responder) -> None:
        """Answer every `method` request on `path` the sequence does not expect."""
        self.mock.set(self._key(method, path), response)

    def _route(self, request: httpx.Request) -> str:
        path = request.url.path
        base = httpx.URL(self.base_url).path.rstrip("/")
        if base and path.startswith(base):
            path = path[len(base):] or "/"
        for verb, template, pattern in self._routes:
            if verb == request.method and pattern.fullmatch(path):
                return f"{verb} {template}"
        return f"{request.method} {path}"

    def _answer(self, request: httpx.Request) -> Any:
        self.requests.append(request)
        answer = self.mock.next(self._route(request))
        if isinstance(answer, httpx.Response):
            # A fresh copy each time: a permanent answer may be given many times.
            return httpx.Response(answer.status_code, headers=answer.headers,
                                  content=answer.content, request=request)
        return answer(request)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering from this mock (sync and async clients alike)."""

        def handle(request: httpx.Request) -> Any:
            return self._answer(request)

        return httpx.MockTransport(handle)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """`bastion.otel.client()` whose requests this mock answers."""
        kwargs.setdefault("base_url", self.base_url)
        return otel.client(transport=self.transport(), **kwargs)

    def sync_client(self, **kwargs: Any) -> httpx.Client:
        """`bastion.otel.sync_client()` whose requests this mock answers."""
        kwargs.setdefault("base_url", self.base_url)
        return otel.sync_client(transport=self.transport(), **kwargs)

    def find(self, method: str, path: str) -> list[httpx.Request]:
        """The recorded requests with this method and exact path, in order."""
        return [r for r in self.requests if r.method == method.upper() and r.url.path == path]

    def has_more(self) -> bool:
        """Whether the sequence still expects requests."""
        return self.mock.has_more()

    def assert_done(self) -> None:
        """Fail naming every expected request that did not come, and every unexpected one."""
        self.mock.assert_done()


def json_response(status: int = 200, body: Any = None,
                  headers: Mapping[str, str] | None = None
                  ) -> httpx.Response:
    """An `httpx.Response` with a JSON body, for `HTTPMock.add` and `set`."""
    return httpx.Response(status, json=body, headers=headers)


async def resolve(value: _T | Awaitable[_T]) -> _T:
    """`value`, awaited if it is awaitable: a scripted answer may be sync or async."""
    if inspect.isawaitable(value):
        return cast(_T, await value)
    return value
