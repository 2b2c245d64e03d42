"""Server interceptors: user code around a method's endpoint, as Goa's generated code runs it.

The design declares each interceptor and what it may touch (`bastion.dsl.Interceptor`,
`ReadPayload`, `WriteResult`...). The App gets one object per service implementing them,
one `async def` per interceptor, named after it in snake case (`Cache` -> `cache`):

    class RecordsInterceptors:
        async def cache(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
            key = info.payload().recordID              # declared by ReadPayload
            result = await next(info.raw_payload)
            info.result(result).cachedAt = "now"       # declared by WriteResult
            return result

    app = bastion.App(api, services={...}, interceptors={"records": RecordsInterceptors()})

Each interceptor wraps the method's endpoint once, at startup, on the operations seam, so
it runs the same over HTTP and gRPC; a method without interceptors is not wrapped at all.
`info.payload()`, `info.result(res)` and, for streams, `info.streaming_payload(msg)` and
`info.streaming_result()` give typed views of exactly the declared attributes: reading
one not declared readable, or writing one not declared writable, raises
`InterceptorAccessError`; a value written is checked against the design
(`InterceptorWriteError`) before it is stored.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, ClassVar, Literal

import msgspec

from bastion.dsl._interceptors import (
    ACCESS_BLOCKS,
    InterceptorExpr,
    InterceptorUse,
    Target,
    applied,
)
from bastion.dsl.expr import AttributeExpr, MethodExpr, ServiceExpr
from bastion.endpoint import MethodInfo, streams
from bastion.errors import BastionError, DesignError
from bastion.schema.formats import dec_hook
from bastion.types import Endpoint, EndpointMiddleware

__all__ = [
    "Accessor",
    "CallType",
    "InterceptorAccessError",
    "InterceptorInfo",
    "InterceptorWriteError",
    "Next",
    "interceptor_layer",
]

#: What an interceptor is called for: the whole call, or one message of a stream.
CallType = Literal["unary", "streaming_send", "streaming_recv"]
#: The `next` an interceptor calls: the rest of the chain, payload in, result out.
Next = Callable[[Any], Awaitable[Any]]


class InterceptorAccessError(BastionError, AttributeError):
    """An interceptor read or wrote an attribute its design does not let it touch."""


class InterceptorWriteError(BastionError, ValueError):
    """An interceptor wrote a value its attribute's type and validations refuse."""


_WHAT = {"payload": "payload", "result": "result", "streaming_payload": "streaming payload",
         "streaming_result": "streaming result"}


class Accessor:
    """A typed view of a payload, result or message: the declared attributes, no others.

    Each interceptor and method gets its own subclass, built at startup, with a property
    per declared attribute (its Python field name). Works on Structs, objects with
    attributes (dataclasses, rows) and dicts (by JSON name), as methods may return any.
    """

    __slots__ = ("_target",)
    _about: ClassVar[str] = ""
    _names: ClassVar[frozenset[str]] = frozenset()
    _write_only: ClassVar[dict[str, str]] = {}

    def __init__(self, target: Any) -> None:
        _set_target(self, target)  # past __setattr__, which refuses undeclared names

    def __getattr__(self, name: str) -> Any:
        # Also reached when a write-only property refuses (it raises an AttributeError).
        raise InterceptorAccessError(
            self._write_only.get(name) or f"{self._about} declares no access to {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._names:
            raise InterceptorAccessError(f"{self._about} declares no access to {name!r}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        # The names only: the values may be credentials, and reprs end up in logs.
        return f"<{type(self).__name__}: {', '.join(sorted(self._names))}>"


_set_target = Accessor.__dict__["_target"].__set__


def _property(field: str, wire: str, ftype: Any, about: str, readable: bool,
              writable: bool, read_block: str, write_block: str) -> property:
    def get(self: Accessor) -> Any:
        if not readable:
            raise InterceptorAccessError(self._write_only[field])
        target = self._target
        # A dict by its JSON name; anything else by attribute (the ABC check, slower,
        # only for other mappings).
        if isinstance(target, dict) or (
                not hasattr(target, field) and isinstance(target, Mapping)):
            return target.get(wire)
        return getattr(target, field)

    def set(self: Accessor, value: Any) -> None:
        if not writable:
            raise InterceptorAccessError(
                f"{about} may read {field!r} ({read_block}) but not write it: add it to "
                f"{write_block} in the design")
        try:
            value = msgspec.convert(value, ftype, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            raise InterceptorWriteError(
                f"{about} wrote {field!r} a value its design refuses: {exc}") from None
        target = self._target
        if isinstance(target, dict) or (
                not hasattr(target, field) and isinstance(target, MutableMapping)):
            target[wire] = value
        else:
            setattr(target, field, value)

    return property(get, set, doc=f"The {field!r} attribute ({about}).")


def _accessor(interceptor: InterceptorExpr, method: MethodExpr, target: Target,
              attr: AttributeExpr | None, struct: Any) -> type[Accessor] | None:
    """The accessor class of `interceptor` on `target` of `method`, if it declares any."""
    read = interceptor.access(target, "read")
    write = interceptor.access(target, "write")
    if (read is None and write is None) or attr is None or attr.object is None:
        return None
    obj = attr.object
    fields = {f.name: f for f in msgspec.structs.fields(struct)} if isinstance(
        struct, type) and issubclass(struct, msgspec.Struct) else {}
    readable = {n for n, _ in read.names()} if read is not None else set()
    writable = {n for n, _ in write.names()} if write is not None else set()
    about = (f"interceptor {interceptor.name!r} on the {_WHAT[target]} of "
             f"{method.service.name}.{method.name}")
    read_block, write_block = ACCESS_BLOCKS[(target, "read")], ACCESS_BLOCKS[(target, "write")]
    namespace: dict[str, Any] = {"__slots__": (), "_about": about}
    names = set()
    write_only: dict[str, str] = {}
    for name in readable | writable:
        a = obj.attributes[name]
        info = fields.get(a.field_name)
        ftype = info.type if info is not None else Any
        namespace[a.field_name] = _property(
            a.field_name, a.wire_name, ftype, about, name in readable,
            name in writable, read_block, write_block)
        names.add(a.field_name)
        if name not in readable:
            write_only[a.field_name] = (
                f"{about} may write {a.field_name!r} ({write_block}) but not read it: add it "
                f"to {read_block} in the design")
    namespace["_names"] = frozenset(names)
    namespace["_write_only"] = write_only
    cls_name = f"{interceptor.method_name.title()}{target.title()}Access".replace("_", "")
    return type(cls_name, (Accessor,), namespace)


class _Plan:
    """What an interceptor knows of one method, compiled at startup."""

    __slots__ = ("interceptor", "method", "payload", "result", "service", "stream_payload",
                 "stream_result", "unwrap")

    def __init__(self, use: InterceptorUse, m: MethodExpr, info: MethodInfo,
                 stream_type: Any, unwrap: Callable[[Any], Any]) -> None:
        i = use.interceptor
        self.interceptor = i.name
        self.service = m.service.name
        self.method = m.name
        self.unwrap = unwrap
        streams_result = m.streaming_result
        self.payload = _accessor(i, m, "payload", m.payload, info.payload_type)
        self.result = None if streams_result else _accessor(
            i, m, "result", m.result, info.result_type)
        self.stream_payload = _accessor(i, m, "streaming_payload", m.streaming_payload,
                                        stream_type)
        self.stream_result = _accessor(i, m, "streaming_result", m.result,
                                       info.result_type) if streams_result else None

    def refuse(self, target: Target) -> InterceptorAccessError:
        return InterceptorAccessError(
            f"interceptor {self.interceptor!r} declares no access to the {_WHAT[target]} of "
            f"{self.service}.{self.method}: declare {ACCESS_BLOCKS[(target, 'read')]} or "
            f"{ACCESS_BLOCKS[(target, 'write')]} in its design")


class InterceptorInfo:
    """What an interceptor gets about the call it intercepts (Goa's `<Name>Info`).

    `raw_payload` is the payload the call was made with (for `streaming_send`, the
    message being sent); `call_type` says whether the interceptor runs for the whole
    call (`unary`) or for one message of a stream. `payload()`, `result(res)`,
    `streaming_payload(msg)` and `streaming_result()` give typed access to the declared
    attributes only.
    """

    __slots__ = ("_plan", "call_type", "raw_payload")

    def __init__(self, plan: _Plan, call_type: CallType, raw_payload: Any) -> None:
        self._plan = plan
        self.call_type: CallType = call_type
        self.raw_payload = raw_payload

    @property
    def service(self) -> str:
        """The name of the service handling the call."""
        return self._plan.service

    @property
    def method(self) -> str:
        """The name of the method handling the call."""
        return self._plan.method

    @property
    def interceptor(self) -> str:
        """The name of the interceptor running."""
        return self._plan.interceptor

    def payload(self) -> Any:
        """The call's payload, as the attributes `ReadPayload`/`WritePayload` declare."""
        cls = self._plan.payload
        if cls is None:
            raise self._plan.refuse("payload")
        return cls(self.raw_payload)

    def result(self, result: Any) -> Any:
        """`result` (what `next` returned), as `ReadResult`/`WriteResult` declare it."""
        cls = self._plan.result
        if cls is None:
            raise self._plan.refuse("result")
        return cls(self._plan.unwrap(result))

    def streaming_payload(self, message: Any) -> Any:
        """A message the client streamed (what `next` returned), as declared."""
        cls = self._plan.stream_payload
        if cls is None:
            raise self._plan.refuse("streaming_payload")
        return cls(message)

    def streaming_result(self) -> Any:
        """The message being sent (`raw_payload` of a `streaming_send` call), as declared."""
        cls = self._plan.stream_result
        if cls is None:
            raise self._plan.refuse("streaming_result")
        return cls(self._plan.unwrap(self.raw_payload))

    def __repr__(self) -> str:
        return (f"InterceptorInfo({self.interceptor!r}, {self.service}.{self.method}, "
                f"{self.call_type})")


Interceptor = Callable[[InterceptorInfo, Next], Awaitable[Any]]


def _wrap(endpoint: Endpoint, fn: Interceptor, plan: _Plan, use: InterceptorUse,
          m: MethodExpr) -> Endpoint:
    i = use.interceptor
    if m.stream_kind is None:
        async def call(payload: Any) -> Any:
            return await fn(InterceptorInfo(plan, "unary", payload), endpoint)

        return call
    # On a stream, as Goa: an interceptor declaring stream access runs for each message
    # in the directions it declares, and for the whole call only if it declares payload
    # or result access too (or no stream access at all).
    recv = plan.stream_payload is not None
    send = plan.stream_result is not None
    whole = i.touches("payload", "result") or not (recv or send)

    async def streamed(payload: Any) -> Any:
        io = streams.current()
        incoming = io.incoming if io is not None else None
        out = io.send if io is not None else None
        if recv and incoming is not None:
            source = incoming

            async def next_recv(_: Any) -> Any:
                return await source.recv()

            async def receive() -> Any:
                message = await fn(InterceptorInfo(plan, "streaming_recv", payload), next_recv)
                return streams.END if message is None else message

            incoming = streams.Stream(receive)
        if send and out is not None:
            sink = out

            async def next_send(message: Any) -> Any:
                await sink(message)
                return None

            async def send_one(message: Any) -> None:
                await fn(InterceptorInfo(plan, "streaming_send", message), next_send)

            out = send_one
        token = streams.use(streams.StreamIO(incoming, out))
        try:
            if whole:
                return await fn(InterceptorInfo(plan, "unary", payload), endpoint)
            return await endpoint(payload)
        finally:
            streams.reset(token)

    return streamed


def _where_defined(fn: Any, impl: object) -> str:
    func = getattr(fn, "__func__", fn)
    try:
        file = inspect.getsourcefile(func) or "<unknown>"
        line = func.__code__.co_firstlineno
    except (TypeError, AttributeError):
        return f"{type(impl).__module__}.{type(impl).__qualname__}"
    return f"{file}:{line}"


def interceptor_layer(
    service: ServiceExpr,
    impl: object | None,
    infos: Mapping[str, MethodInfo],
    stream_types: Mapping[str, Any],
    unwrap: Callable[[Any], Any] = lambda result: result,
) -> EndpointMiddleware | None:
    """The endpoint middleware running `service`'s server interceptors, or None if none.

    `impl` implements them (one `async def` per interceptor); it is checked against the
    design now: a missing or extra interceptor, or one that is not `async`, is a
    `DesignError` naming it and its file:line. `unwrap` gives the result an interceptor
    sees from what a method returned (a `Viewed` result's value).
    """
    uses: dict[str, list[InterceptorUse]] = {}
    wanted: dict[str, InterceptorUse] = {}
    for m in service.methods.values():
        uses[m.name] = applied(m)
        for use in uses[m.name]:
            wanted.setdefault(use.interceptor.method_name, use)
    problems: list[str] = []
    funcs: dict[str, Interceptor] = {}
    cls = type(impl).__name__
    if impl is not None:
        for name in sorted(n for n in dir(impl) if not n.startswith("_")):
            fn = getattr(impl, name)
            if not callable(fn) or name in wanted:
                continue
            declared = ", ".join(f"{u.interceptor.name!r} ({n})" for n, u in wanted.items())
            problems.append(
                f"{_where_defined(fn, impl)}: {cls}.{name} implements no server interceptor "
                f"of service {service.name!r} (declared at {service.location}); the design "
                f"applies {declared or 'none'}: remove it, make it private (_{name}), or "
                "declare and apply the interceptor")
    for name, use in wanted.items():
        fn = getattr(impl, name, None) if impl is not None else None
        i = use.interceptor
        if fn is None or not callable(fn):
            whom = (f"{cls} has no method {name!r}" if impl is not None else
                    f"no implementation was given (App(..., interceptors={{"
                    f"{service.name!r}: ...}}))")
            problems.append(
                f"{i.location}: server interceptor {i.name!r}, applied to service "
                f"{service.name!r} at {use.location}, is not implemented: {whom}; add "
                f"`async def {name}(self, info, next)`")
        elif not inspect.iscoroutinefunction(fn):
            problems.append(
                f"{_where_defined(fn, impl)}: {cls}.{name} implements server interceptor "
                f"{i.name!r} and must be `async def {name}(self, info, next)`")
        else:
            funcs[name] = fn
    if problems:
        if len(problems) == 1:
            raise DesignError(problems[0])
        raise DesignError(f"{len(problems)} problems with the interceptors of service "
                          f"{service.name!r}:\n" + "\n".join("  " + p for p in problems))
    if not wanted:
        return None
    methods = service.methods

    def layer(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
        m = methods[info.name]
        # Wrapped innermost first, so the list's first (the name sorting last) runs first.
        for use in reversed(uses[info.name]):
            plan = _Plan(use, m, info, stream_types.get(info.name), unwrap)
            endpoint = _wrap(endpoint, funcs[use.interceptor.method_name], plan, use, m)
        return endpoint

    return layer
