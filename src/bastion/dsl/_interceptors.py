"""Interceptors, as Goa declares them: `Interceptor`, its access blocks, and where it applies.

    with Interceptor("Cache", "A transparent cache of loaded records"):
        with ReadPayload():
            Attribute("recordID")
        with WriteResult():
            Attribute("cachedAt")

    with Service("records"):
        ServerInterceptor("Cache")        # by name, or by the object Interceptor returned

An interceptor names the attributes it may read and write; their types come from the
payload and result of each method it is applied to. `ServerInterceptor(...)` applies
interceptors at the API, service or method level; a method gets its own, its service's
and the API's, each once. `ClientInterceptor(...)` is accepted and checked the same way,
for clients: the server does not run it. `finalize` checks every applied interceptor
against each method's payload and result (`check_interceptors`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from bastion.dsl._problems import Problems
from bastion.dsl._state import _Block, _fail, _state, _top
from bastion.dsl.expr import (
    APIExpr,
    AttributeExpr,
    DataType,
    Location,
    MethodExpr,
    ObjectExpr,
    ServiceExpr,
)

__all__ = [
    "ACCESS_BLOCKS",
    "Access",
    "ClientInterceptor",
    "Interceptor",
    "InterceptorExpr",
    "InterceptorUse",
    "ReadPayload",
    "ReadResult",
    "ReadStreamingPayload",
    "ReadStreamingResult",
    "ServerInterceptor",
    "WritePayload",
    "WriteResult",
    "WriteStreamingPayload",
    "WriteStreamingResult",
    "applied",
    "check_interceptors",
    "snake",
]

#: What an access block is about: the payload, the result, or one message of a stream.
Target = Literal["payload", "result", "streaming_payload", "streaming_result"]
Mode = Literal["read", "write"]

#: The DSL function of each (target, mode) pair, for messages.
ACCESS_BLOCKS: dict[tuple[Target, Mode], str] = {
    ("payload", "read"): "ReadPayload",
    ("payload", "write"): "WritePayload",
    ("result", "read"): "ReadResult",
    ("result", "write"): "WriteResult",
    ("streaming_payload", "read"): "ReadStreamingPayload",
    ("streaming_payload", "write"): "WriteStreamingPayload",
    ("streaming_result", "read"): "ReadStreamingResult",
    ("streaming_result", "write"): "WriteStreamingResult",
}


def snake(name: str) -> str:
    """`JWTAuth`, `SetDeadline`, `tenant-check` -> `jwt_auth`, `set_deadline`, `tenant_check`.

    The name of the Python method implementing an interceptor.
    """
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"\W+", "_", s).strip("_").lower()
    if not s or s[0].isdigit():
        s = "_" + s
    return s


@dataclass(eq=False)
class Access:
    """One access block (`ReadPayload`, `WriteResult`, ...): the attributes it names."""

    target: Target
    mode: Mode
    attribute: AttributeExpr  # an object whose attributes are the names, or a type's

    @property
    def block(self) -> str:
        """The DSL function that declared it."""
        return ACCESS_BLOCKS[(self.target, self.mode)]

    def names(self) -> list[tuple[str, Location]]:
        """The attribute names it lists, each with where it was written."""
        obj = self.attribute.object
        if obj is None:
            return []
        return [(n, a.location) for n, a in obj.attributes.items()]


@dataclass(eq=False)
class InterceptorExpr:
    """An interceptor: a name, a description, and the attributes it may read and write."""

    name: str
    location: Location
    description: str | None = None
    accesses: dict[tuple[Target, Mode], Access] = field(default_factory=dict)

    @property
    def method_name(self) -> str:
        """The name of the Python method implementing it (`Cache` -> `cache`)."""
        return snake(self.name)

    def access(self, target: Target, mode: Mode) -> Access | None:
        """The block of `target` and `mode`, if the interceptor declares it."""
        return self.accesses.get((target, mode))

    def all_accesses(self) -> Iterator[Access]:
        """Every access block it declares."""
        yield from self.accesses.values()

    def touches(self, *targets: Target) -> bool:
        """Whether it declares an access block about any of `targets`."""
        return any(a.target in targets for a in self.all_accesses())


@dataclass(frozen=True)
class InterceptorUse:
    """One interceptor named by `ServerInterceptor(...)` or `ClientInterceptor(...)`."""

    interceptor: InterceptorExpr
    location: Location


# ---------------------------------------------------------------------------- declaring


def _registry(where: Location) -> dict[str, Any] | None:
    """The interceptors of the design being built, if `where` belongs to it."""
    design = _state.design
    if design is not None and not design.finalized and (
        _state.stack or design.location.file == where.file
    ):
        return design.interceptors
    return None


def _find(name: str, design: APIExpr) -> InterceptorExpr | None:
    if name in design.interceptors:
        found: InterceptorExpr = design.interceptors[name]
        return found
    for pending in reversed(_state.pending_interceptors):
        if pending.name == name:
            return pending  # type: ignore[no-any-return]
    return None


def Interceptor(name: str, description: str | None = None) -> _Block[InterceptorExpr]:
    """Declare an interceptor; use as `with Interceptor("Cache"):` to list what it accesses.

    Declared at the top level (before or after the API), or inline in an API, Service or
    Method; `ServerInterceptor` applies it.
    """
    where = Location.here()
    if not isinstance(name, str) or not name:
        raise _fail(where, f"interceptor name must be a non-empty string, not {name!r}")
    if not isinstance(_top(), (type(None), APIExpr, ServiceExpr, MethodExpr)):
        raise _fail(where, f"Interceptor {name!r} must be declared at the top level or in "
                    "an API, Service or Method")
    registry = _registry(where)
    if registry is not None:
        first = registry.get(name)
    else:
        first = next((p for p in _state.pending_interceptors
                      if p.name == name and p.location.file == where.file), None)
    if first is not None:
        raise _fail(where, f"interceptor {name!r} is declared twice (first at {first.location})")
    interceptor = InterceptorExpr(name=name, location=where, description=description)
    if registry is not None:
        registry[name] = interceptor
    else:
        # Declared before any API, often in a module of its own: the next API of the same
        # file adopts it; a design naming it (or applying the object) takes it then.
        _state.pending_interceptors.append(interceptor)
    return _Block(interceptor)


def _access(target: Target, mode: Mode, arg: object) -> _Block[AttributeExpr]:
    fn = ACCESS_BLOCKS[(target, mode)]
    where = Location.here()
    top = _top()
    if not isinstance(top, InterceptorExpr):
        raise _fail(where, f"{fn} must be called inside an Interceptor")
    if top.access(target, mode) is not None:
        raise _fail(where, f"interceptor {top.name!r}: {fn} is declared twice")
    t = getattr(arg, "expr", arg)
    if t is not None and not isinstance(t, DataType):
        raise _fail(where, f"interceptor {top.name!r}: {fn} takes an object type or a `with` "
                    f"block of attributes, not {arg!r}")
    attr = AttributeExpr(name=fn, type=t if t is not None else ObjectExpr(), location=where)
    top.accesses[(target, mode)] = Access(target, mode, attr)
    return _Block(attr)


def ReadPayload(type: object = None) -> _Block[AttributeExpr]:
    """Declare the payload attributes the interceptor reads (`Attribute("id")` in the block).

    `ReadPayload(T)` with an object type names every attribute of `T`.
    """
    return _access("payload", "read", type)


def WritePayload(type: object = None) -> _Block[AttributeExpr]:
    """Declare the payload attributes the interceptor writes."""
    return _access("payload", "write", type)


def ReadResult(type: object = None) -> _Block[AttributeExpr]:
    """Declare the result attributes the interceptor reads."""
    return _access("result", "read", type)


def WriteResult(type: object = None) -> _Block[AttributeExpr]:
    """Declare the result attributes the interceptor writes."""
    return _access("result", "write", type)


def ReadStreamingPayload(type: object = None) -> _Block[AttributeExpr]:
    """Declare the attributes of each streamed payload message the interceptor reads."""
    return _access("streaming_payload", "read", type)


def WriteStreamingPayload(type: object = None) -> _Block[AttributeExpr]:
    """Declare the attributes of each streamed payload message the interceptor writes."""
    return _access("streaming_payload", "write", type)


def ReadStreamingResult(type: object = None) -> _Block[AttributeExpr]:
    """Declare the attributes of each streamed result message the interceptor reads."""
    return _access("streaming_result", "read", type)


def WriteStreamingResult(type: object = None) -> _Block[AttributeExpr]:
    """Declare the attributes of each streamed result message the interceptor writes."""
    return _access("streaming_result", "write", type)


def _apply(fn: str, items: tuple[object, ...], client: bool) -> None:
    where = Location.here()
    top = _top()
    if not isinstance(top, (APIExpr, ServiceExpr, MethodExpr)):
        raise _fail(where, f"{fn} must be called inside an API, Service or Method")
    if not items:
        raise _fail(where, f"{fn} needs at least one interceptor")
    design = top if isinstance(top, APIExpr) else (
        top.api if isinstance(top, ServiceExpr) else top.service.api)
    uses = []
    for item in items:
        found = getattr(item, "expr", item)
        if isinstance(found, str):
            if not found:
                raise _fail(where, f"{fn}: an interceptor name cannot be empty")
            interceptor = _find(found, design)
            if interceptor is None:
                known = sorted(design.interceptors)
                raise _fail(where, f"{fn}: no interceptor is named {found!r} "
                            f"(declared: {', '.join(known) or 'none'}); declare it with "
                            f"Interceptor({found!r}) first")
        elif isinstance(found, InterceptorExpr):
            interceptor = found
        else:
            raise _fail(where, f"{fn}: {item!r} is not an interceptor (pass what Interceptor "
                        "returned, or its name)")
        known = design.interceptors.setdefault(interceptor.name, interceptor)
        if known is not interceptor:
            raise _fail(where, f"{fn}: two interceptors are named {interceptor.name!r} "
                        f"(declared at {known.location} and {interceptor.location})")
        uses.append(InterceptorUse(interceptor, where))
    (top.client_interceptors if client else top.server_interceptors).extend(uses)


def ServerInterceptor(*interceptors: object) -> None:
    """Apply server interceptors (objects `Interceptor` returned, or their names) to the
    enclosing API, service or method. May be called several times.
    """
    _apply("ServerInterceptor", interceptors, client=False)


def ClientInterceptor(*interceptors: object) -> None:
    """Apply client interceptors to the enclosing API, service or method.

    Kept in the design and checked like server ones; the server never runs them.
    """
    _apply("ClientInterceptor", interceptors, client=True)


# ---------------------------------------------------------------------------- reading


def applied(method: MethodExpr, client: bool = False) -> list[InterceptorUse]:
    """The interceptors that apply to `method`, in the order they run (outermost first).

    A method gets its own, its service's and its API's (each name once, the nearest
    level's use kept), ordered as Goa's generated code wraps them: by name, the one whose
    name sorts last running first.
    """
    attr = "client_interceptors" if client else "server_interceptors"
    seen: dict[str, InterceptorUse] = {}
    for level in (method, method.service, method.service.api):
        for use in getattr(level, attr):
            seen.setdefault(use.interceptor.name, use)
    return [seen[name] for name in sorted(seen, reverse=True)]


# ---------------------------------------------------------------------------- checking


def _target(method: MethodExpr, target: Target) -> tuple[AttributeExpr | None, str | None]:
    """The attribute an access block reads, or why the method has none to read."""
    if target == "payload":
        if method.payload is None:
            return None, "has no payload"
        return method.payload, None
    if target == "result":
        if method.streaming_result:
            return None, "streams its result (use ReadStreamingResult or WriteStreamingResult)"
        if method.result is None:
            return None, "has no result"
        return method.result, None
    if target == "streaming_payload":
        if method.streaming_payload is None:
            return None, "has no streaming payload"
        return method.streaming_payload, None
    if not method.streaming_result or method.result is None:
        return None, "does not stream its result"
    return method.result, None


_WHAT = {"payload": "payload", "result": "result", "streaming_payload": "streaming payload",
         "streaming_result": "streaming result"}


def check_interceptors(api: APIExpr, problems: Problems) -> None:
    """Check each applied interceptor against the payload and result of each method."""
    for interceptor in api.interceptors.values():
        for access in interceptor.all_accesses():
            if access.attribute.object is None:
                problems.add(access.attribute.location,
                             f"interceptor {interceptor.name!r}: {access.block} takes an object "
                             f"type or a block of attributes, not {access.attribute.type_name()}")
    for m in api.methods():
        names: dict[str, InterceptorUse] = {}
        for client in (False, True):
            for use in applied(m, client):
                _check_use(m, use, problems)
                if client:
                    continue
                other = names.setdefault(use.interceptor.method_name, use)
                if other.interceptor is not use.interceptor:
                    problems.add(use.location,
                                 f"interceptors {other.interceptor.name!r} and "
                                 f"{use.interceptor.name!r} of {m.qualified} would both be "
                                 f"implemented by method {use.interceptor.method_name!r}: "
                                 "rename one")


def _check_use(m: MethodExpr, use: InterceptorUse, problems: Problems) -> None:
    i = use.interceptor
    for access in i.all_accesses():
        obj_attr, why = _target(m, access.target)
        applied_at = f"applied at {use.location}"
        if obj_attr is None:
            problems.add(access.attribute.location,
                         f"interceptor {i.name!r} ({applied_at}) declares {access.block}, "
                         f"but {m.qualified} {why}")
            continue
        obj = obj_attr.object
        if obj is None:
            problems.add(access.attribute.location,
                         f"interceptor {i.name!r} ({applied_at}) declares {access.block}, but "
                         f"the {_WHAT[access.target]} of {m.qualified} is not an object "
                         f"({obj_attr.type_name()})")
            continue
        for name, where in access.names():
            if name not in obj.attributes:
                problems.add(where,
                             f"interceptor {i.name!r} ({applied_at}) {access.mode}s "
                             f"{_WHAT[access.target]} attribute {name!r}, which the "
                             f"{_WHAT[access.target]} of {m.qualified} does not have "
                             f"(its attributes: {', '.join(obj.attributes) or 'none'})")
