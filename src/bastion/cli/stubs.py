"""`bastion gen stubs`: typed classes and one Protocol per service, for mypy and IDEs.

The runtime builds its own validating types from the design; the stubs only give
editors and type checkers the same shapes, so a service can be written against them.
Each Protocol lists the service's methods and the auth handlers its security schemes
need, as `App` calls them: positionally, sync or async (`MaybeAwaitable`).
"""

from __future__ import annotations

from bastion.dsl._interceptors import ACCESS_BLOCKS, InterceptorExpr, Target, applied
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    Primitive,
    ResultTypeExpr,
    ServiceExpr,
    UnionExpr,
    UserTypeExpr,
)
from bastion.schema.compile import py_name
from bastion.security.design import scheme_kinds
from bastion.security.handlers import HANDLER_NAMES
from bastion.security.scheme import SchemeKind

__all__ = [
    "IMPORTS",
    "Renderer",
    "camel",
    "handler_params",
    "protocol_name",
    "render",
    "render_body",
]

# The credentials each kind of auth handler gets, before the scheme, as the enforcer
# passes them; and the scheme's annotation.
_HANDLER_ARGS = {
    SchemeKind.BASIC: ("username: str, password: str", "BasicScheme"),
    SchemeKind.APIKEY: ("key: str", "APIKeyScheme"),
    SchemeKind.JWT: ("token: str", "JWTScheme"),
    SchemeKind.OAUTH2: ("token: str", "OAuth2Scheme"),
}

_PRIMS = {
    "boolean": "bool",
    "integer": "int",
    "number": "float",
    "string": "str",
    "bytes": "bytes",
    "any": "Any",
}


class Renderer:
    """Turns a design's types into Struct source, remembering what it wrote."""

    def __init__(self, api: APIExpr) -> None:
        self.api = api.finalize()
        self.classes: list[str] = []
        self.done: set[int] = set()
        self._names: dict[int, str] = {}  # id(UserTypeExpr) -> its class name
        self._pending: list[UserTypeExpr] = []

    def user_type(self, ut: UserTypeExpr) -> str:
        """The class name of user type `ut` (a view of a result type included), written once."""
        name = self._names.get(id(ut))
        if name is None:
            base = py_name(ut.name)
            taken = set(self._names.values())
            name, n = base, 2
            while name in taken:
                name, n = f"{base}{n}", n + 1
            self._names[id(ut)] = name
            self._pending.append(ut)
        return name

    def flush(self) -> None:
        """Write the classes of the user types met so far (and of those they meet)."""
        while self._pending:
            ut = self._pending.pop(0)
            self.struct(self._names[id(ut)], ut.object, ut.attribute.description)

    def type_of(self, attr: AttributeExpr, hint: str) -> str:
        """The annotation of `attr`; an inline object becomes a Struct named `hint`."""
        t = attr.type
        if isinstance(t, UserTypeExpr):
            return f'"{self.user_type(t)}"'
        if isinstance(t, UnionExpr):
            return "bastion.OneOfValue"
        if isinstance(t, ObjectExpr):
            self.struct(hint, t)
            return f'"{hint}"'
        # `builtins.`: a service method named `list` would shadow the builtin in its Protocol.
        if isinstance(t, ArrayExpr):
            return f"builtins.list[{self.type_of(t.elem, hint + 'Item')}]"
        if isinstance(t, MapExpr):
            key = self.type_of(t.key, hint + "Key")
            return f"builtins.dict[{key}, {self.type_of(t.elem, hint + 'Value')}]"
        if isinstance(t, Primitive):
            if attr.enum:
                return "Literal[" + ", ".join(repr(v) for v in attr.enum) + "]"
            return _PRIMS[t.kind]
        return "Any"

    def struct(self, name: str, obj: ObjectExpr, doc: str | None = None) -> None:
        """Write the Struct `name` for `obj`, once."""
        if id(obj) in self.done:
            return
        self.done.add(id(obj))
        renames = {a.field_name: a.wire_name for a in obj.attributes.values()
                   if a.field_name != a.wire_name and a.field_name != py_name(a.wire_name)}
        rename = f", rename={renames!r}" if renames else ""
        lines = [f"class {name}(msgspec.Struct, kw_only=True{rename}):"]
        lines.append(f'    """{(doc or name).strip()}"""')
        lines.append("")
        required, optional = [], []
        for attr_name, attr in obj.attributes.items():
            ann = self.type_of(attr, name + _camel(attr_name))
            field = attr.field_name
            if attr_name in obj.required and attr.credential is None:
                required.append(f"    {field}: {ann}")
            elif attr.has_default:
                # The runtime fills the default in: the value is never None.
                optional.append(f"    {field}: {ann} = {attr.default!r}")
            else:
                optional.append(f"    {field}: {ann} | None = None")
        body = required + optional
        lines.extend(body or ["    pass"])
        self.classes.append("\n".join(lines))

    def signature(self, m: MethodExpr) -> tuple[str | None, str]:
        """The annotations of `m`'s payload (None when it has none) and of its result."""
        base = _camel(m.service.name) + _camel(m.name)
        param = None
        if m.payload is not None:
            if isinstance(m.payload.type, ObjectExpr):
                self.struct(base + "Payload", m.payload.type, f"Payload of {m.qualified}.")
                param = f"{base}Payload"
            else:
                param = self.type_of(m.payload, base + "Payload")
        result = "None"
        if m.result is not None:
            if isinstance(m.result.type, ObjectExpr):
                self.struct(base + "Result", m.result.type, f"Result of {m.qualified}.")
                result = f"{base}Result | Mapping[str, Any]"
            else:
                result = self.type_of(m.result, base + "Result").strip('"')
                result = f"{result} | Mapping[str, Any]" if isinstance(
                    m.result.type, UserTypeExpr
                ) else result
            if m.result_views:
                for view in m.result_views.values():  # each view's class is written too
                    self.type_of(view, base + "Result")
                result += " | bastion.Viewed"  # the method picks the view
        self.flush()
        return param, result

    def method_sig(self, m: MethodExpr) -> str:
        """The Protocol member of method `m` (a stream's: see `bastion.endpoint.streams`)."""
        param, result = self.signature(m)
        args = [f"p: {param}"] if param is not None else []
        if m.streaming_payload is not None:
            item = self.message(m)
            args.append(f"stream: bastion.endpoint.streams.Stream[{item}]")
        params = f", {', '.join(args)}, /" if args else ""
        returns = f"MaybeAwaitable[{result}]"
        if m.streaming_result:
            returns = f"AsyncIterator[{result}]"  # an async generator of the messages
        elif m.streaming_payload is not None:
            returns = f"Awaitable[{result}]"  # a client stream is read by an async method
        doc = f'        """{m.description}"""\n' if m.description else ""
        return (f"    def {py_name(m.name)}(self{params}) -> {returns}:\n"
                f"{doc}        ...")

    def message(self, m: MethodExpr) -> str:
        """The annotation of each message of `m`'s client stream."""
        attr = m.streaming_payload
        if attr is None:  # pragma: no cover - called for client streams only
            return "None"
        name = _camel(m.service.name) + _camel(m.name) + "Message"
        if isinstance(attr.type, ObjectExpr):
            self.struct(name, attr.type, f"A message of the client stream of {m.qualified}.")
            self.flush()
            return name
        found = self.type_of(attr, name).strip('"')
        self.flush()
        return found

    @property
    def names(self) -> list[str]:
        """The class names written so far, in order."""
        return [c.split("(", 1)[0].removeprefix("class ") for c in self.classes]


def _camel(name: str) -> str:
    # "by_basic" -> "ByBasic": class names as PEP 8 writes them.
    return "".join(part[:1].upper() + part[1:] for part in py_name(name).split("_"))


def _handler_sig(api: APIExpr, kind: SchemeKind) -> str:
    args, scheme = _HANDLER_ARGS[kind]
    names = ", ".join(repr(s.name) for s in api.schemes.values() if s.kind == kind)
    return (
        f"    def {HANDLER_NAMES[kind]}(self, {args}, scheme: bastion.{scheme}, /)"
        " -> MaybeAwaitable[bastion.Principal]:\n"
        f'        """Auth handler of scheme {names}: a Principal, or raise Unauthorized."""\n'
        "        ..."
    )


def protocol_name(service: str) -> str:
    """The name of the Protocol `bastion gen stubs` writes for `service`."""
    return _camel(service) + "Service"


def handler_params(kind: SchemeKind) -> tuple[str, str]:
    """The credential parameters of an auth handler of `kind`, and its scheme's class."""
    return _HANDLER_ARGS[kind]


def camel(name: str) -> str:
    """`by_basic` as `ByBasic`: how generated class names are spelled."""
    return _camel(name)


_TARGETS: tuple[tuple[Target, str], ...] = (
    ("payload", "Payload"), ("result", "Result"), ("streaming_payload", "StreamingPayload"),
    ("streaming_result", "StreamingResult"))
# How `InterceptorInfo` hands out each accessor, as its Protocol declares it.
_GETTERS = {
    "payload": "def payload(self) -> {cls}: ...",
    "result": "def result(self, result: Any, /) -> {cls}: ...",
    "streaming_payload": "def streaming_payload(self, message: Any, /) -> {cls}: ...",
    "streaming_result": "def streaming_result(self) -> {cls}: ...",
}


def _target_attr(m: MethodExpr, target: Target) -> AttributeExpr | None:
    if target == "streaming_payload":
        return m.streaming_payload
    if (target == "streaming_result") != m.streaming_result:
        return None
    return m.payload if target == "payload" else m.result


def _accessor_protocol(r: Renderer, name: str, i: InterceptorExpr, target: Target,
                       m: MethodExpr) -> str | None:
    read, write = i.access(target, "read"), i.access(target, "write")
    attr = _target_attr(m, target)
    obj = attr.object if attr is not None else None
    if (read is None and write is None) or obj is None:
        return None
    readable = [n for n, _ in read.names()] if read is not None else []
    writable = [n for n, _ in write.names()] if write is not None else []
    what = target.replace("_", " ")
    lines = [f"class {name}(Protocol):",
             f'    """What interceptor {i.name!r} may read and write of the {what}."""', ""]
    for n in dict.fromkeys(readable + writable):
        a = obj.attributes[n]
        ann = r.type_of(a, name + _camel(n))
        if not ((n in obj.required and a.credential is None) or a.has_default):
            ann += " | None"
        f = a.field_name
        if n in readable and n in writable:
            lines.append(f"    {f}: {ann}")
        elif n in readable:
            lines += ["    @property", f"    def {f}(self) -> {ann}: ...", ""]
        else:
            read_block = ACCESS_BLOCKS[(target, "read")]
            lines += ["    @property", f"    def {f}(self) -> NoReturn:",
                      f'        """Write-only: reading it needs {read_block} in the design."""',
                      f"    @{f}.setter", f"    def {f}(self, value: {ann}, /) -> None: ...",
                      ""]
    return "\n".join(lines).rstrip()


def _interceptor_protocols(r: Renderer, svc: ServiceExpr) -> list[str]:
    """The Protocols of `svc`'s server interceptors: accessors, infos, the implementation."""
    first: dict[str, tuple[InterceptorExpr, MethodExpr]] = {}
    for m in svc.methods.values():
        for use in applied(m):
            first.setdefault(use.interceptor.name, (use.interceptor, m))
    if not first:
        return []
    out, members = [], []
    prefix = _camel(svc.name)
    for iname in sorted(first):
        i, m = first[iname]
        base = prefix + _camel(i.method_name)
        getters = []
        for target, label in _TARGETS:
            proto = _accessor_protocol(r, base + label, i, target, m)
            if proto is not None:
                out.append(proto)
                getters.append("    " + _GETTERS[target].format(cls=base + label))
        doc = i.description or f"What interceptor {i.name!r} is told of the call."
        out.append(
            f"class {base}Info(Protocol):\n    \"\"\"{doc}\"\"\"\n\n"
            "    service: str\n    method: str\n    interceptor: str\n"
            "    call_type: Literal['unary', 'streaming_send', 'streaming_recv']\n"
            "    raw_payload: Any\n" + ("\n" + "\n".join(getters) if getters else ""))
        members.append(
            f"    async def {i.method_name}(self, info: {base}Info, next: bastion.Next, /)"
            f" -> Any:\n        \"\"\"Server interceptor {i.name!r}.\"\"\"\n        ...")
    out.append(f"class {prefix}ServerInterceptors(Protocol):\n"
               f"    \"\"\"The server interceptors of service {svc.name!r}: pass an "
               f"implementation as App(interceptors={{{svc.name!r}: ...}}).\"\"\"\n\n"
               + "\n\n".join(members))
    return out


def render_body(r: Renderer) -> str:
    """The Structs of every type and a Protocol per service, without the module header."""
    api = r.api
    for ut in api.types.values():
        # Named primitives, arrays and maps are what they name; a result type is written
        # when used, so that the view a method returns takes its name.
        if ut.is_object and not isinstance(ut, ResultTypeExpr):
            r.user_type(ut)
    r.flush()
    protocols = []
    for svc in api.services.values():
        sigs = [r.method_sig(m) for m in svc.methods.values()]
        kinds = scheme_kinds(api, svc.name)
        sigs += [_handler_sig(api, kind) for kind in HANDLER_NAMES if kind in kinds]
        name = protocol_name(svc.name)
        doc = svc.description or f"What service {svc.name!r} implements."
        protocols.append(f"class {name}(Protocol):\n    \"\"\"{doc}\"\"\"\n\n" + "\n\n".join(sigs))
        protocols += _interceptor_protocols(r, svc)
    r.flush()
    return "\n\n\n".join(r.classes + protocols) + "\n"


#: The imports and the `MaybeAwaitable` alias the stubs need.
IMPORTS = (
    "from __future__ import annotations\n\n"
    "import builtins\n"
    "from collections.abc import AsyncIterator, Awaitable, Mapping\n"
    "from typing import Any, Literal, NoReturn, Protocol, TypeAlias, TypeVar\n\n"
    "import msgspec\n\n"
    "import bastion\nimport bastion.endpoint.streams\n\n"
    "_T = TypeVar(\"_T\")\n"
    "#: What a service method or auth handler returns: sync, or async (awaited).\n"
    "MaybeAwaitable: TypeAlias = _T | Awaitable[_T]\n"
)


def render(api: APIExpr) -> str:
    """Return Python source with a Struct per type and a Protocol per service."""
    header = f'"""Typed stubs of design {api.name!r}, generated by `bastion gen stubs`."""\n\n'
    return header + IMPORTS + "\n\n" + render_body(Renderer(api))
