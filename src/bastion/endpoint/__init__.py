"""Endpoints: transport-independent calls of service methods, and their middleware.

An endpoint is `async (payload) -> result`. `Endpoints` holds one per method of a
service and lets users wrap them all with endpoint middleware (`use`), as Goa's
`endpoints.Use` does. Middleware is applied once, at startup, per method, and gets the
method's `MethodInfo`, so it can specialise itself (e.g. know which attributes are
credentials) instead of looking anything up per call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bastion.dsl.expr import (
    ArrayExpr,
    AttributeExpr,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    ServiceExpr,
    UserTypeExpr,
)
from bastion.endpoint.threads import ThreadRunner
from bastion.errors import AlreadyStarted, BastionError
from bastion.redact import REDACTED, Redactor
from bastion.schema.compile import TypeCompiler, py_name
from bastion.schema.formats import enc_hook
from bastion.types import Endpoint, EndpointMiddleware

__all__ = [
    "REDACTED",
    "Endpoints",
    "ImplementationError",
    "MethodInfo",
]


class ImplementationError(BastionError, TypeError):
    """A service implementation does not match its design (e.g. a method is missing)."""


@dataclass(eq=False)
class MethodInfo:
    """What the design says about one method, compiled for middleware to use.

    The one home of "which attributes are secret": `credentials` (payload attributes
    carrying a credential, as `MethodExpr.credentials()` says) and `sensitive` (every
    name, attribute or wire, whose values are redacted), computed once when the endpoints
    are built.
    """

    service: str
    name: str
    expr: MethodExpr
    payload_type: Any = None
    result_type: Any = None
    credentials: frozenset[str] = field(default_factory=frozenset)
    sensitive: frozenset[str] = field(default_factory=frozenset)
    redactor: Redactor = field(default_factory=Redactor)

    @classmethod
    def of(
        cls, method: MethodExpr, payload_type: Any = None, result_type: Any = None
    ) -> MethodInfo:
        """Compile what middleware needs to know of `method`."""
        sensitive = _sensitive_names(method)
        return cls(
            service=method.service.name,
            name=method.name,
            expr=method,
            payload_type=payload_type,
            result_type=result_type,
            credentials=frozenset(method.credentials()),
            sensitive=sensitive,
            redactor=Redactor(sensitive),
        )

    def redact(self, payload: Any) -> Any:
        """The payload as JSON-able builtins with every sensitive value redacted."""
        data = msgspec.to_builtins(payload, enc_hook=enc_hook)
        if isinstance(data, dict):
            for name in self.credentials:  # whatever their names, credentials are secret
                if data.get(name) is not None:
                    data[name] = REDACTED
        return self.redactor.data(data)

    def dump_result(self, result: Any) -> Any:
        """The result as JSON-able builtins, sensitive values redacted."""
        if isinstance(result, tuple) and len(result) == 2 and hasattr(result[1], "__aiter__"):
            result = result[0]  # (result, body stream) of a raw streamed response
        if hasattr(result, "__aiter__"):
            return f"<a stream: {type(result).__name__}>"
        return self.redactor.data(msgspec.to_builtins(result, enc_hook=enc_hook))


def _sensitive_names(method: MethodExpr) -> frozenset[str]:
    """Every name whose values are secret in `method`: attributes at any depth, wire names.

    An attribute is sensitive when it carries a credential or the design marks it with
    `meta={"sensitive": True}`; its wire name (query parameter, header, cookie) is too.
    """
    names: set[str] = set()
    seen: set[int] = set()

    def walk(attr: AttributeExpr | None) -> None:
        if attr is None:
            return
        t = attr.type
        if isinstance(t, UserTypeExpr):
            if id(t) in seen:  # recursive types
                return
            seen.add(id(t))
        if isinstance(t, (ArrayExpr, MapExpr)):
            walk(t.elem)
        obj = attr.object
        if isinstance(obj, ObjectExpr):
            for name, child in obj.attributes.items():
                if child.sensitive:
                    names.add(name)
                walk(child)

    walk(method.payload)
    walk(method.result)
    http = method.http
    if http is not None:
        for mapping in (http.params, http.headers, http.cookies):
            for attr, wire in mapping.items():
                if attr in names:
                    names.add(wire)
    return frozenset(names)


class Endpoints(Mapping[str, Endpoint]):
    """The endpoints of one service: a read-only mapping from method name to endpoint."""

    def __init__(
        self,
        service: ServiceExpr,
        impl: object,
        compiler: TypeCompiler,
        payload_types: Mapping[str, Any] | None = None,
        result_types: Mapping[str, Any] | None = None,
        threads: ThreadRunner | None = None,
    ) -> None:
        self.service = service
        self.threads = threads or ThreadRunner()
        self.impl = impl
        self.infos: dict[str, MethodInfo] = {}
        self._base: dict[str, Endpoint] = {}
        self._inner: list[EndpointMiddleware] = []
        self._middleware: list[EndpointMiddleware] = []
        missing = []
        for m in service.methods.values():
            fn = getattr(impl, py_name(m.name), None)
            if not callable(fn):
                missing.append(m.name)
                continue
            self.infos[m.name] = MethodInfo.of(
                m, (payload_types or {}).get(m.name), (result_types or {}).get(m.name)
            )
            if m.stream_kind is not None:
                self._base[m.name] = _streaming_call(fn, m)
                continue
            if m.http is not None and getattr(m.http.bodies, "skip_request", None) is not None:
                from bastion.endpoint.bodies import body_call

                self._base[m.name] = body_call(fn, m)
                continue
            self._base[m.name] = _call(fn, m.payload is not None, self.threads)
        if missing:
            cls = type(impl).__name__
            raise ImplementationError(
                f"service {service.name!r}: implementation {cls} lacks method(s) "
                + ", ".join(f"{py_name(n)!r}" for n in missing)
                + " declared by the design"
            )
        self._compiled: dict[str, Endpoint] | None = None

    def use(self, middleware: EndpointMiddleware) -> None:
        """Wrap every endpoint with `middleware(endpoint, info)`; the first used is outermost.

        Allowed until the chains are built (the App builds them once, when it starts), so
        each middleware factory runs once per method; after, it raises
        `bastion.errors.AlreadyStarted`.
        """
        self._refuse_after_build("use")
        self._middleware.append(middleware)

    def use_inner(self, middleware: EndpointMiddleware) -> None:
        """Wrap endpoints inside every user middleware (the framework's security layer)."""
        self._refuse_after_build("use_inner")
        self._inner.append(middleware)

    def _refuse_after_build(self, what: str) -> None:
        if self._compiled is not None:
            raise AlreadyStarted(
                f"service {self.service.name!r}: {what}() after the App started; add endpoint "
                "middleware before serving (the chains are built once)"
            )

    @property
    def built(self) -> bool:
        """Whether the chains are built (then `use` is refused)."""
        return self._compiled is not None

    def build(self) -> dict[str, Endpoint]:
        """Compose each method's chain once: inner layers, then middleware, outermost last."""
        if self._compiled is not None:
            return self._compiled
        compiled = {}
        for name, base in self._base.items():
            info = self.infos[name]
            endpoint = base
            for mw in reversed(self._inner):
                endpoint = mw(endpoint, info)
            for mw in reversed(self._middleware):
                endpoint = mw(endpoint, info)
            compiled[name] = endpoint
        self._compiled = compiled
        return compiled

    def __getitem__(self, name: str) -> Endpoint:
        return self.build()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


def _call(fn: Callable[..., Any], takes_payload: bool, threads: ThreadRunner) -> Endpoint:
    """The endpoint calling `fn`: awaited if async, in one of the App's threads if not."""
    target = fn
    if isinstance(fn, functools.partial):
        target = fn.func
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - callable objects with async __call__
    ):
        if takes_payload:
            return fn

        async def no_payload(_: Any) -> Any:
            return await fn()

        return no_payload

    run = threads.run

    async def in_thread(payload: Any) -> Any:
        # The runner copies the context, so logs, spans and the lifetime keep their request.
        if takes_payload:
            return await run(fn, payload)
        return await run(fn)

    return in_thread


def _streaming_call(fn: Callable[..., Any], method: MethodExpr) -> Endpoint:
    """The endpoint of a streaming method: it runs the whole stream, in the chain.

    The transport's `StreamIO` is current: the client's messages are passed as the last
    argument; each item a streamed result yields is sent, and the endpoint returns None.
    """
    from bastion.endpoint import streams

    target = fn.func if isinstance(fn, functools.partial) else fn
    kind = method.stream_kind
    yields = kind in ("server", "bidirectional")
    if yields and not inspect.isasyncgenfunction(target):
        raise ImplementationError(
            f"{method.qualified} streams its result: implement it as an async generator "
            "(`async def` that yields each message)")
    if not yields and not inspect.iscoroutinefunction(target):
        raise ImplementationError(
            f"{method.qualified} reads a client stream: implement it as `async def` taking "
            "the stream as its last argument")
    takes_payload = method.payload is not None
    reads = method.streaming_payload is not None

    async def call(payload: Any) -> Any:
        io = streams.current()
        if io is None:
            raise RuntimeError(f"{method.qualified} streams, and was called without streams")
        args = ([payload] if takes_payload else []) + ([io.incoming] if reads else [])
        if io.start is not None:
            await io.start()
        if not yields:
            return await fn(*args)
        send = io.send
        if send is None:  # pragma: no cover - a transport always gives one
            raise RuntimeError(f"{method.qualified}: no stream to send to")
        async for item in fn(*args):
            await send(item)
        return None

    return call
