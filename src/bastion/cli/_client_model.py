"""What `bastion gen client` reads from a design: types, operations, errors and schemes.

The model is built from the finalized expression tree (`bastion.dsl.expr`) and holds
everything the renderer writes, already named and checked. A design element the
generator does not know how to speak — a data type it has no rule for, an HTTP feature
it cannot map, a wire rename — raises `UnsupportedDesign` naming the element and where
the design declares it: a client that speaks the wire wrongly is worse than none.

The generic guard is `_check_fields`: each expression object is compared with the
fields this module knows; a field it does not know, set to anything but its default,
is a feature added to the DSL after this generator was written, and is refused.
"""

from __future__ import annotations

import dataclasses
import keyword
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from bastion.dsl._interceptors import applied
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    ErrorExpr,
    HTTPErrorExpr,
    HTTPMethodExpr,
    HTTPResponseExpr,
    Location,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    Primitive,
    RouteExpr,
    SchemeExpr,
    SchemeKind,
    UserTypeExpr,
)
from bastion.errors import BastionError
from bastion.schema.formats import FORMAT_PATTERNS

__all__ = [
    "AliasModel",
    "AuthModel",
    "ClientModel",
    "ErrorModel",
    "FieldModel",
    "OperationModel",
    "ParamModel",
    "ServiceModel",
    "StructModel",
    "TypeNode",
    "UnsupportedDesign",
    "build",
    "camel",
]

_INT64 = (-(2**63), 2**63 - 1)

#: Names the generated package defines or imports itself: no design name may take them.
RESERVED = frozenset({
    "Any", "Annotated", "ClassVar", "Literal", "TypeAlias", "builtins", "httpx", "msgspec",
    "overload", "functools", "ops", "Client", "AsyncClient", "Session", "AsyncSession",
    "Retry", "Operation", "Request", "APIError",
    "BadRequest", "Unauthorized", "Forbidden", "TooManyRequests", "ServerError",
    "ServiceUnavailable", "ServiceError", "UnexpectedResponse", "ErrorBody", "FieldError",
})

# Python names a keyword argument of a generated method must not have.
_ARG_RESERVED = frozenset({"self", "payload", "fields"})

# The fields of each expression class this generator reads or knows to be harmless;
# see `_check_fields`. Provenance and documentation fields are always harmless.
_KNOWN: dict[type, frozenset[str]] = {
    AttributeExpr: frozenset({
        "name", "type", "location", "description", "default", "has_default", "example",
        "enum", "format", "pattern", "minimum", "maximum", "exclusive_minimum",
        "exclusive_maximum", "min_length", "max_length", "credential", "credential_scheme",
        "meta",
    }),
    ObjectExpr: frozenset({"attributes", "required", "required_at", "name"}),
    UserTypeExpr: frozenset({"name", "attribute", "location"}),
    ArrayExpr: frozenset({"elem"}),
    MapExpr: frozenset({"key", "elem"}),
    Primitive: frozenset({"name", "kind", "low", "high", "json_format"}),
    MethodExpr: frozenset({
        "name", "service", "location", "description", "payload", "result", "errors",
        "requirements", "no_security", "rate_limit", "http", "meta",
        # The gRPC mapping changes nothing on the HTTP wire this client speaks.
        "grpc",
        # Server interceptors run on the server only; client ones are refused below.
        "server_interceptors", "client_interceptors",
    }),
    ErrorExpr: frozenset({"name", "location", "type", "description", "temporary", "timeout",
                          "fault"}),
    HTTPMethodExpr: frozenset({
        "location", "routes", "params", "headers", "cookies", "body", "body_set",
        "body_location", "response", "errors", "mapped_at", "authorization",
    }),
    HTTPResponseExpr: frozenset({"status", "location", "headers", "body", "body_set"}),
    HTTPErrorExpr: frozenset({"name", "status", "location"}),
    RouteExpr: frozenset({"verb", "path", "location", "full_path"}),
}

# Expressions met in a field this generator does not know (a later DSL's addition, such
# as an error's own Response block): accepted only when they say nothing beyond these.
_NESTED_PLAIN: dict[type, frozenset[str]] = {
    HTTPResponseExpr: frozenset({"status", "location"}),
}

# Goa meta keys that change what travels on the wire, which the client would get wrong.
_WIRE_META = ("struct:tag:json",)


class UnsupportedDesign(BastionError, ValueError):
    """A design element `bastion gen client` cannot turn into correct client code."""


def camel(name: str) -> str:
    """`already_cancelled` as `AlreadyCancelled`: how generated class names are spelled."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name)
                   if part)


def identifier(name: str) -> str:
    """The Python identifier for a design name (the wire name is kept apart)."""
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit():
        ident = "_" + ident
    if keyword.iskeyword(ident) or ident in ("True", "False", "None"):
        ident += "_"
    return ident


# ---------------------------------------------------------------------------- the model


@dataclass
class TypeNode:
    """A Python type expression, kept as a tree so long ones can be wrapped.

    `head` alone is a name (`str`, `Order`); with `args` it is `head[args...]`; with
    `meta` it is `Annotated[head, msgspec.Meta(...)]`; `union` joins alternatives.
    """

    head: str = ""
    args: list[TypeNode] = field(default_factory=list)
    literal: list[Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    union: list[TypeNode] = field(default_factory=list)

    def plain(self) -> TypeNode:
        """The same type without constraints (for signatures); aliases are kept."""
        return TypeNode(self.head, [a.plain() for a in self.args], self.literal, {},
                        [u.plain() for u in self.union])


@dataclass
class AliasModel:
    """A named string format (`Email`, `UUID`): `Annotated[str, msgspec.Meta(pattern=...)]`."""

    name: str
    format: str
    pattern: str


@dataclass
class FieldModel:
    """One attribute of a Struct, or one keyword argument of a method."""

    wire: str
    ident: str
    type: TypeNode
    required: bool
    default: Any = None
    has_default: bool = False
    description: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class StructModel:
    """A msgspec Struct the package defines: a user type, a payload or a result."""

    name: str
    doc: str
    fields: list[FieldModel]


@dataclass
class ParamModel:
    """A payload attribute the request carries outside the body."""

    ident: str
    where: Literal["path", "rest", "query", "header", "cookie"]
    wire: str


@dataclass
class ErrorModel:
    """A design error: its exception class, status and flags."""

    name: str
    cls: str
    description: str | None
    temporary: bool
    timeout: bool
    fault: bool
    value: TypeNode | None = None  # the error's own type, when it has one


@dataclass
class AuthModel:
    """A security scheme of the design, as the class a client is given credentials with."""

    scheme: str
    cls: str
    kind: SchemeKind
    description: str | None
    scopes: dict[str, str]


@dataclass
class OperationModel:
    """One method of a service as the client calls it."""

    service: str
    method: str
    ident: str  # the Python method name
    const: str  # the Operation constant in `_operations`
    description: str | None
    verb: str
    path: str  # the route's full template, as the design writes it
    status: int
    # The payload: none, a non-object value passed positionally, or an object whose
    # non-credential attributes are keyword arguments (and `payload_struct` the Struct).
    payload: Literal["none", "value", "object"]
    payload_type: TypeNode | None
    payload_struct: str | None
    kwargs: list[FieldModel]
    params: list[ParamModel]
    # The body: none, one attribute (`body_attr`), some attributes (`body_fields`), or
    # the whole non-object payload.
    body: Literal["none", "attr", "fields", "value"]
    body_attr: str | None
    body_fields: list[tuple[str, str]]  # (wire, ident)
    result: TypeNode | None
    result_struct: str | None  # set when headers or a body attribute must be assembled
    result_headers: list[tuple[str, str]]  # (wire attribute, header)
    result_body: str | None  # the wire name of the result attribute that is the body
    result_description: str | None
    errors: list[tuple[ErrorModel, int]]
    requirements: list[list[str]]
    requirement_text: list[str]
    credentials: dict[str, tuple[str, str]]  # scheme -> (where, name)
    other_routes: list[str]


@dataclass
class ServiceModel:
    """A service and its operations."""

    name: str
    ident: str  # the attribute of the facade
    cls: str  # `OrdersClient`
    description: str | None
    operations: list[OperationModel]


@dataclass
class ClientModel:
    """Everything the package is written from."""

    api: APIExpr
    title: str
    description: str | None
    version: str
    aliases: list[AliasModel]
    structs: list[StructModel]
    errors: list[ErrorModel]
    auth: list[AuthModel]
    services: list[ServiceModel]
    skipped: list[str]  # methods not served over HTTP


# ---------------------------------------------------------------------------- building


def build(api: APIExpr) -> ClientModel:
    """Build the client model of `api` (finalized here); raise `UnsupportedDesign`."""
    api.finalize()
    return _Builder(api).build()


class _Builder:
    """Walks the design once, naming every class it will write."""

    def __init__(self, api: APIExpr) -> None:
        self.api = api
        self.taken: set[str] = set(RESERVED)
        self.structs: list[StructModel] = []
        self.struct_names: dict[int, str] = {}  # id(UserTypeExpr | ObjectExpr) -> class
        self.errors: dict[tuple[str, int], ErrorModel] = {}
        self.aliases: dict[str, AliasModel] = {}

    def unique(self, base: str) -> str:
        """`base`, or `base2`, `base3`… when a class of that name exists."""
        base = identifier(base[:1].upper() + base[1:])
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}{n}", n + 1
        self.taken.add(name)
        return name

    def build(self) -> ClientModel:
        """The whole model."""
        api = self.api
        for ut in api.types.values():
            self.user_type(ut)
        auth = [self.scheme(s) for s in api.schemes.values() if self.scheme_used(s)]
        services: list[ServiceModel] = []
        skipped: list[str] = []
        facade_taken = {"base_url", "retry", "call", "close", "aclose"}
        for svc in api.services.values():
            ops: list[OperationModel] = []
            for m in svc.methods.values():
                if m.http is None or not m.http.routes:
                    skipped.append(f"{svc.name}.{m.name}")
                    continue
                ops.append(self.operation(m))
            if not ops:
                continue
            ident = identifier(svc.name)
            while ident in facade_taken or ident.startswith("_"):
                ident += "_"
            facade_taken.add(ident)
            services.append(ServiceModel(svc.name, ident, self.unique(camel(svc.name) + "Client"),
                                         svc.description, ops))
        self.taken.update(f"Async{s.cls}" for s in services)
        return ClientModel(api, api.title or api.name, api.description, api.version,
                           list(self.aliases.values()), self.structs,
                           list(self.errors.values()), auth, services, skipped)

    # -- types ----------------------------------------------------------------------

    def user_type(self, ut: UserTypeExpr) -> str:
        """The Struct class of user type `ut`, defined on first use."""
        if type(ut) is not UserTypeExpr:
            raise _unsupported(ut.location, f"type {ut.name!r}",
                               f"a {type(ut).__name__} (not a plain Type)")
        _check_fields(ut, f"type {ut.name!r}", ut.location)
        obj = ut.attribute.type
        if type(obj) is not ObjectExpr:
            raise _unsupported(ut.location, f"type {ut.name!r}", "a type that is not an object")
        _check_fields(ut.attribute, f"type {ut.name!r}", ut.location)
        name = self.struct_names.get(id(ut))
        if name is None:
            name = self.unique(ut.name)
            self.struct_names[id(ut)] = name
            doc = ut.attribute.description or f"The design's `{ut.name}` type."
            self.struct(name, obj, doc, f"type {ut.name!r}")
        return name

    def struct(self, name: str, obj: ObjectExpr, doc: str, owner: str,
               skip: frozenset[str] = frozenset()) -> StructModel:
        """Define Struct `name` for `obj`'s attributes (less `skip`)."""
        _check_fields(obj, owner, None)
        model = StructModel(name, doc, [])
        self.structs.append(model)  # before its fields: a recursive type finds itself
        for attr_name, attr in obj.attributes.items():
            if attr_name in skip:
                continue
            model.fields.append(self.field(attr_name, attr, obj, f"{owner}, attribute "
                                           f"{attr_name!r}", name))
        return model

    def field(self, attr_name: str, attr: AttributeExpr, obj: ObjectExpr, owner: str,
              hint: str) -> FieldModel:
        """The Struct field (or keyword argument) of `attr`."""
        node = self.type_of(attr, owner, hint + camel(attr_name))
        required = attr_name in obj.required and not attr.has_default
        notes = []
        if attr.format is not None and (attr.pattern is not None
                                        or attr.format not in FORMAT_PATTERNS):
            notes.append(f"format: {attr.format} (checked by the server)")
        if attr.enum is not None and node.literal is None and not isinstance(
            attr.type, ArrayExpr
        ):
            notes.append("one of " + ", ".join(repr(v) for v in attr.enum))
        return FieldModel(attr_name, identifier(attr_name), node, required, attr.default,
                          attr.has_default, attr.description, notes)

    def type_of(self, attr: AttributeExpr, owner: str, hint: str) -> TypeNode:
        """The type of `attr`'s values, constraints included."""
        _check_fields(attr, owner, attr.location)
        t = attr.type
        if t is None:
            return self.primitive_node(_STRING, attr, owner)
        if type(t) is UserTypeExpr:
            return TypeNode(self.user_type(t))
        if type(t) is ObjectExpr:
            name = self.struct_names.get(id(t))
            if name is None:
                name = self.unique(hint)
                self.struct_names[id(t)] = name
                self.struct(name, t, attr.description or f"The {owner}.", owner)
            return TypeNode(name)
        if type(t) is ArrayExpr:
            _check_fields(t, owner, attr.location)
            item = self.type_of(t.elem, f"{owner} (items)", hint + "Item")
            return _constrained(TypeNode("builtins.list", [item]), attr, lengths=True)
        if type(t) is MapExpr:
            _check_fields(t, owner, attr.location)
            key = self.type_of(t.key, f"{owner} (keys)", hint + "Key")
            value = self.type_of(t.elem, f"{owner} (values)", hint + "Value")
            return _constrained(TypeNode("builtins.dict", [key, value]), attr, lengths=True)
        if type(t) is Primitive:
            _check_fields(t, owner, attr.location)
            return self.primitive_node(t, attr, owner)
        raise _unsupported(attr.location, owner, f"type {t.describe()} "
                           f"({type(t).__name__})")

    def primitive_node(self, t: Primitive, attr: AttributeExpr, owner: str) -> TypeNode:
        """A primitive's type: Literal for enums, Annotated with msgspec.Meta for bounds."""
        if attr.enum is not None and all(
            isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
            for v in attr.enum
        ):
            return TypeNode("Literal", literal=list(attr.enum))
        kind = t.kind
        if kind == "boolean":
            return TypeNode("bool")
        if kind == "integer":
            low = t.low if t.low is not None else None
            high = t.high if t.high is not None else None
            ge = _tighter(low, attr.minimum, max)
            le = _tighter(high, attr.maximum, min)
            if attr.exclusive_minimum is not None:
                ge = _tighter(ge, math.floor(attr.exclusive_minimum) + 1, max)
            if attr.exclusive_maximum is not None:
                le = _tighter(le, math.ceil(attr.exclusive_maximum) - 1, min)
            meta: dict[str, Any] = {}
            # msgspec's integers are int64 already; a wider bound (uint64) is the server's.
            if ge is not None and _INT64[0] < ge <= _INT64[1]:
                meta["ge"] = math.ceil(ge)
            if le is not None and _INT64[0] <= le < _INT64[1]:
                meta["le"] = math.floor(le)
            return TypeNode("int", meta=meta)
        if kind == "number":
            meta = {k: v for k, v in (("ge", attr.minimum), ("le", attr.maximum),
                                      ("gt", attr.exclusive_minimum),
                                      ("lt", attr.exclusive_maximum)) if v is not None}
            return TypeNode("float", meta=meta)
        if kind == "string":
            if attr.pattern is None and attr.format in FORMAT_PATTERNS:
                return TypeNode(self.alias(attr.format), meta=_lengths(attr))
            meta = {"pattern": attr.pattern} if attr.pattern is not None else {}
            meta.update(_lengths(attr))
            return TypeNode("str", meta=meta)
        if kind == "bytes":
            return TypeNode("bytes", meta=_lengths(attr))
        if kind == "any":
            return TypeNode("Any")
        raise _unsupported(attr.location, owner, f"primitive kind {kind!r}")

    def alias(self, fmt: str) -> str:
        """The name of the alias of string format `fmt`, defined on first use."""
        found = self.aliases.get(fmt)
        if found is None:
            name = {"uuid": "UUID", "uri": "URI", "ipv4": "IPv4"}.get(fmt) or camel(fmt)
            found = AliasModel(self.unique(name), fmt, FORMAT_PATTERNS[fmt])
            self.aliases[fmt] = found
        return found.name

    # -- security ---------------------------------------------------------------------

    def scheme_used(self, s: SchemeExpr) -> bool:
        """Whether some method served over HTTP needs scheme `s`."""
        return any(s in _schemes(m) for m in self.api.methods() if m.http is not None)

    def scheme(self, s: SchemeExpr) -> AuthModel:
        """The auth class of scheme `s`."""
        return AuthModel(s.name, self.unique(camel(s.name) + "Auth"), s.kind, s.description,
                         dict(s.scopes))

    # -- errors -----------------------------------------------------------------------

    def error(self, e: ErrorExpr, m: MethodExpr) -> ErrorModel:
        """The exception class of design error `e` (one per name and type)."""
        _check_fields(e, f"error {e.name!r} of {m.qualified}", e.location)
        typed = bool(getattr(e, "typed", e.type is not None))
        key = (e.name, id(e.type) if typed else 0)
        found = self.errors.get(key)
        if found is not None:
            return found
        value = None
        if typed and e.type is not None:
            holder = AttributeExpr(e.name, e.type, e.location)
            value = self.type_of(holder, f"error {e.name!r}", camel(e.name) + "Value")
        same = [k for k in self.errors if k[0] == e.name]
        base = camel(e.name) + "Error"
        if same:  # the same name with another type: say whose it is
            base = camel(m.service.name) + base
        model = ErrorModel(e.name, self.unique(base), e.description, e.temporary, e.timeout,
                           e.fault, value)
        self.errors[key] = model
        return model

    # -- operations -------------------------------------------------------------------

    def operation(self, m: MethodExpr) -> OperationModel:
        """The operation of method `m` (it has an HTTP mapping)."""
        _check_fields(m, m.qualified, m.location)
        for use in applied(m, client=True):
            raise _unsupported(use.location, m.qualified,
                               f"client interceptor {use.interceptor.name!r} (the generated "
                               "client does not run interceptors)")
        http = m.http
        if http is None:  # pragma: no cover - the caller skips these
            raise ValueError(m.qualified)
        _check_fields(http, f"HTTP of {m.qualified}", http.location)
        for r in http.routes:
            _check_fields(r, f"route of {m.qualified}", r.location)
        for level in (m.service.http, m.service.api.http):
            if level is not None:
                for em in level.errors:
                    _check_fields(em, f"error response {em.name!r}", em.location)
        for em in http.errors:
            _check_fields(em, f"error response {em.name!r} of {m.qualified}", em.location)
        route = http.routes[0]
        base = camel(m.service.name) + camel(m.name)
        payload = m.payload
        obj = payload.object if payload is not None else None
        creds = set(m.credentials())
        kind: Literal["none", "value", "object"] = "none"
        payload_type: TypeNode | None = None
        payload_struct: str | None = None
        kwargs: list[FieldModel] = []
        if payload is not None and obj is None:
            kind = "value"
            _check_fields(payload, f"payload of {m.qualified}", payload.location)
            payload_type = self.type_of(payload, f"payload of {m.qualified}", base + "Payload")
        elif payload is not None and obj is not None:
            kind = "object"
            _check_fields(payload, f"payload of {m.qualified}", payload.location)
            t = payload.type
            if type(t) is UserTypeExpr and not creds:
                payload_struct = self.user_type(t)
            else:
                struct = self.struct(self.unique(base + "Payload"), obj,
                                     f"The payload of {m.qualified}.",
                                     f"payload of {m.qualified}", frozenset(creds))
                payload_struct = struct.name
            owner = f"payload of {m.qualified}"
            kwargs = [self.field(n, a, obj, f"{owner}, attribute {n!r}", base)
                      for n, a in obj.attributes.items() if n not in creds]
            for kw in kwargs:
                if kw.ident in _ARG_RESERVED:
                    raise _unsupported(obj.attributes[kw.wire].location, owner,
                                       f"an attribute named {kw.wire!r}, the name of a "
                                       "parameter every generated method has")
            payload_type = TypeNode(payload_struct)
        params = self.params(m, http, route, obj, creds)
        body, body_attr, body_fields = self.body(m, http, obj, creds, params)
        result, result_struct, result_headers, result_body = self.result(m, http, base)
        status = http.response.status if http.response is not None else (
            200 if m.result is not None else 204)
        errors = []
        for e in m.all_errors():
            code = m.error_status(e.name) or (500 if e.fault else 400)
            errors.append((self.error(e, m), code))
        requirements, texts, credentials = self.security(m, http, obj)
        return OperationModel(
            service=m.service.name, method=m.name, ident=identifier(m.name),
            const=identifier(f"{m.service.name}_{m.name}").upper(),
            description=m.description, verb=route.verb, path=route.full_path, status=status,
            payload=kind, payload_type=payload_type, payload_struct=payload_struct,
            kwargs=kwargs, params=params, body=body, body_attr=body_attr,
            body_fields=body_fields, result=result, result_struct=result_struct,
            result_headers=result_headers, result_body=result_body,
            result_description=m.result.description if m.result is not None else None,
            errors=errors, requirements=requirements, requirement_text=texts,
            credentials=credentials,
            other_routes=[f"{r.verb} {r.full_path}" for r in http.routes[1:]],
        )

    def params(self, m: MethodExpr, http: HTTPMethodExpr, route: RouteExpr,
               obj: ObjectExpr | None, creds: set[str]) -> list[ParamModel]:
        """Where each non-body, non-credential attribute travels."""
        out: list[ParamModel] = []
        attrs = obj.attributes if obj is not None else {}
        for seg in route.full_path.split("/"):
            if seg.startswith("{") and seg.endswith("}"):
                name = seg[1:-1].lstrip("*")
                a = attrs[name]
                if not _scalar(a):
                    raise _unsupported(a.location, f"{m.qualified}", f"path parameter {name!r} "
                                       f"of type {a.type_name()}")
                out.append(ParamModel(identifier(name), "rest" if seg.startswith("{*")
                                      else "path", name))
        tables: tuple[tuple[Literal["query", "header", "cookie"], dict[str, str]], ...] = (
            ("query", http.params), ("header", http.headers), ("cookie", http.cookies))
        for where, table in tables:
            for name, wire in table.items():
                if name in creds:
                    continue
                a = attrs[name]
                if not (_scalar(a) or (where != "cookie" and isinstance(a.type, ArrayExpr)
                                       and _scalar(a.type.elem))):
                    raise _unsupported(a.location, m.qualified, f"{where} {wire!r} of type "
                                       f"{a.type_name()}")
                out.append(ParamModel(identifier(name), where, wire))
        return out

    def body(self, m: MethodExpr, http: HTTPMethodExpr, obj: ObjectExpr | None,
             creds: set[str], params: list[ParamModel]
             ) -> tuple[Literal["none", "attr", "fields", "value"], str | None,
                        list[tuple[str, str]]]:
        """What the request body carries."""
        if m.payload is None:
            return "none", None, []
        if obj is None:
            return "value", None, []
        if http.body is not None:
            return "attr", identifier(http.body), []
        mapped = {p.wire for p in params if p.where in ("path", "rest")}
        mapped |= set(http.params) | set(http.headers) | set(http.cookies)
        mapped |= set(http.authorization) | creds
        rest = [(n, identifier(n)) for n in obj.attributes if n not in mapped]
        return ("fields", None, rest) if rest else ("none", None, [])

    def result(self, m: MethodExpr, http: HTTPMethodExpr, base: str
               ) -> tuple[TypeNode | None, str | None, list[tuple[str, str]], str | None]:
        """The result's type, and how it is assembled when headers carry part of it."""
        r = http.response
        if r is not None:
            _check_fields(r, f"response of {m.qualified}", r.location)
        if m.result is None:
            return None, None, [], None
        owner = f"result of {m.qualified}"
        _check_fields(m.result, owner, m.result.location)
        node = self.type_of(m.result, owner, base + "Result")
        headers = list(r.headers.items()) if r is not None else []
        body = r.body if r is not None else None
        if not headers and body is None:
            return node, None, [], None
        return node, node.head, headers, body

    def security(self, m: MethodExpr, http: HTTPMethodExpr, obj: ObjectExpr | None
                 ) -> tuple[list[list[str]], list[str], dict[str, tuple[str, str]]]:
        """The alternatives, their description, and where each scheme's credential goes."""
        requirements: list[list[str]] = []
        texts: list[str] = []
        credentials: dict[str, tuple[str, str]] = {}
        attrs = obj.attributes if obj is not None else {}
        for req in m.effective_requirements():
            names: list[str] = []
            parts: list[str] = []
            for s in req.schemes:
                if not isinstance(s, SchemeExpr):  # pragma: no cover - finalize resolves
                    continue
                names.append(s.name)
                scopes = f" with scopes {', '.join(req.scopes)}" if (
                    req.scopes and s.kind.has_scopes) else ""
                parts.append(f"{_KIND_NAMES[s.kind]} `{s.name}`{scopes}")
                credentials[s.name] = _placement(m, http, s, attrs)
            requirements.append(names)
            texts.append(" and ".join(parts))
        return requirements, texts, credentials


_STRING = Primitive("String", "string")

_KIND_NAMES = {SchemeKind.BASIC: "Basic", SchemeKind.APIKEY: "API key", SchemeKind.JWT: "JWT",
               SchemeKind.OAUTH2: "OAuth2"}


def _placement(m: MethodExpr, http: HTTPMethodExpr, s: SchemeExpr,
               attrs: dict[str, AttributeExpr]) -> tuple[str, str]:
    """Where `m` reads scheme `s`'s credential, as the server's decoder does."""
    if s.kind is SchemeKind.BASIC:
        return ("basic", "Authorization")
    want = {SchemeKind.APIKEY: "apikey", SchemeKind.JWT: "token",
            SchemeKind.OAUTH2: "accesstoken"}[s.kind]
    for name, a in attrs.items():
        if a.credential != want or (want == "apikey"
                                    and a.credential_scheme not in (None, s.name)):
            continue
        if name in http.authorization:
            return ("bearer", "Authorization")
        if name in http.headers:
            return ("header", http.headers[name])
        if name in http.params:
            return ("query", http.params[name])
        if name in http.cookies:
            return ("cookie", http.cookies[name])
        raise _unsupported(a.location, m.qualified, f"credential {name!r} carried in the "
                           "path or the body")
    raise _unsupported(m.location, m.qualified, f"no payload attribute carries the "
                       f"credential of scheme {s.name!r}")  # pragma: no cover - finalize


def _schemes(m: MethodExpr) -> list[SchemeExpr]:
    return [s for req in m.effective_requirements() for s in req.schemes
            if isinstance(s, SchemeExpr)]


def _scalar(a: AttributeExpr) -> bool:
    return a.type is None or (type(a.type) is Primitive and a.type.kind != "any")


def _constrained(node: TypeNode, attr: AttributeExpr, *, lengths: bool) -> TypeNode:
    if lengths:
        node.meta = _lengths(attr)
    return node


def _lengths(attr: AttributeExpr) -> dict[str, Any]:
    return {k: v for k, v in (("min_length", attr.min_length),
                              ("max_length", attr.max_length)) if v is not None}


def _tighter(bound: float | None, user: float | None, pick: Any) -> Any:
    if bound is None:
        return user
    if user is None:
        return bound
    return pick(bound, user)


def _unsupported(where: Location | None, element: str, what: str) -> UnsupportedDesign:
    at = f"{where}: " if where is not None else ""
    return UnsupportedDesign(
        f"{at}{element}: {what} is not supported by `bastion gen client` yet; the client "
        "would not speak it as the server does (call that method with httpx instead, or "
        "leave the construct out)")


def _harmless(name: str) -> bool:
    # Where an element was written and what documents it never change the wire.
    return name in ("location", "description", "example") or name.endswith(
        ("_location", "_at"))


def _check_fields(obj: Any, element: str, where: Location | None,
                 known: frozenset[str] | None = None) -> None:
    """Refuse any field of `obj` this generator does not know, when it is set.

    A field it does not know that holds an expression it does know is looked into: it
    passes when that expression sets nothing but its plain fields (`_NESTED_PLAIN`).
    """
    known = _KNOWN.get(type(obj)) if known is None else known
    if known is None:
        raise _unsupported(where, element, f"a {type(obj).__name__}")
    for f in dataclasses.fields(obj):
        if f.name in known or _harmless(f.name):
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if value is default or value == default:
            continue
        plain = _NESTED_PLAIN.get(type(value))
        if plain is not None:
            _check_fields(value, f"{element}, its `{f.name}`", where, plain)
            continue
        raise _unsupported(where, element, f"`{f.name}` (set to {_short(value)})")
    meta = getattr(obj, "meta", None)
    if isinstance(meta, dict):
        for key in _WIRE_META:
            if key in meta:
                raise _unsupported(where, element, f"Meta({key!r}) (a rename on the wire)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
