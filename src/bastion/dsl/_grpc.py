"""The DSL's gRPC mapping, as Goa's: `GRPC()`, `Message`, `Metadata`, `Package`, codes, tags.

```python
with Type("Order") as Order:
    Field(1, "id", String, format=UUID)
    Field(2, "amount", Float64)

with Service("orders"):
    with GRPC():
        Response("not_found", CodeNotFound)        # for every method of the service
    with Method("show"):
        Error("not_found")
        with Payload():
            TokenField(1, "token", String)         # credentials travel as metadata
            Field(2, "id", String, format=UUID)
        Result(Order)
        with GRPC():                               # served over gRPC: rpc Show
            Metadata("request_id:x-request-id")    # read from metadata, not the message
            Response(CodeOK)
```

A method is served over gRPC when it has a `GRPC()` block. Field numbers come from
`Field(n, ...)` (and its kin for credentials) or `meta={"rpc:tag": n}`; every attribute
that goes into a gRPC message needs one, unique within its type. `finalize` checks it
all (`check_grpc`) and fills in where each payload attribute travels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from bastion.dsl._build import (
    AccessToken,
    APIKey,
    Attribute,
    Password,
    Token,
    Username,
)
from bastion.dsl._state import _Block, _fail, _need, _state
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    Location,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    Primitive,
    ServiceExpr,
    UserTypeExpr,
)

if TYPE_CHECKING:
    from bastion.dsl._check import _Problems

__all__ = [
    "CODE_NAMES",
    "GRPC",
    "APIKeyField",
    "AccessTokenField",
    "CodeAborted",
    "CodeAlreadyExists",
    "CodeCanceled",
    "CodeDataLoss",
    "CodeDeadlineExceeded",
    "CodeFailedPrecondition",
    "CodeInternal",
    "CodeInvalidArgument",
    "CodeNotFound",
    "CodeOK",
    "CodeOutOfRange",
    "CodePermissionDenied",
    "CodeResourceExhausted",
    "CodeUnauthenticated",
    "CodeUnavailable",
    "CodeUnimplemented",
    "CodeUnknown",
    "Field",
    "GRPCErrorExpr",
    "GRPCExpr",
    "Message",
    "Metadata",
    "Package",
    "PasswordField",
    "TokenField",
    "UsernameField",
    "check_grpc",
    "rpc_tag",
]

# The gRPC status codes, as Goa names them.
CodeOK = 0
CodeCanceled = 1
CodeUnknown = 2
CodeInvalidArgument = 3
CodeDeadlineExceeded = 4
CodeNotFound = 5
CodeAlreadyExists = 6
CodePermissionDenied = 7
CodeResourceExhausted = 8
CodeFailedPrecondition = 9
CodeAborted = 10
CodeOutOfRange = 11
CodeUnimplemented = 12
CodeInternal = 13
CodeUnavailable = 14
CodeDataLoss = 15
CodeUnauthenticated = 16

#: Each code's name as gRPC spells it (`NOT_FOUND`), for messages and logs.
CODE_NAMES: Final = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)

#: The field numbers protobuf allows: 1 to 2**29 - 1, less those it reserves.
MAX_TAG: Final = 2**29 - 1
_RESERVED_TAGS: Final = range(19000, 20000)
# Metadata keys gRPC allows (lower case; "grpc-" keys are the protocol's own).
_METADATA_KEY: Final = re.compile(r"^[0-9a-z_.-]+$")
# Where credentials travel by default: as on HTTP (Authorization, X-API-Key).
_CREDENTIAL_KEYS: Final = {
    "token": "authorization",
    "accesstoken": "authorization",
    "username": "authorization",
    "password": "authorization",
    "apikey": "x-api-key",
}


# ---------------------------------------------------------------------------- expressions


@dataclass(eq=False)
class GRPCErrorExpr:
    """`Response("not_found", CodeNotFound)` in a GRPC block: an error mapped to a code."""

    name: str
    code: int
    location: Location


@dataclass(eq=False)
class GRPCExpr:
    """A `GRPC()` block of an API, a service or a method.

    The API's and a service's hold error codes (and a service its proto `package`); a
    method's also says which payload attributes travel as metadata. `finalize` fills
    `metadata` (attribute -> metadata key, credentials included) and `fields` (the
    payload attributes the request message carries, in order).
    """

    location: Location
    package: str | None = None
    errors: list[GRPCErrorExpr] = field(default_factory=list)
    response_code: int | None = None
    response_at: Location | None = None
    message_names: list[tuple[str, Location]] = field(default_factory=list)
    metadata_names: list[tuple[str, Location]] = field(default_factory=list)
    blocks: list[tuple[str, AttributeExpr]] = field(default_factory=list)
    # Filled by finalize.
    metadata: dict[str, str] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)


def error_code(method: MethodExpr, name: str) -> int | None:
    """The gRPC code the nearest mapping gives error `name` (method, service, API), if any."""
    blocks: tuple[GRPCExpr | None, ...] = (method.grpc, method.service.grpc,
                                            method.service.api.grpc)
    for block in blocks:
        if block is not None:
            for e in block.errors:
                if e.name == name:
                    return e.code
    return None


# ---------------------------------------------------------------------------- DSL


def GRPC() -> _Block[GRPCExpr]:
    """Open the gRPC mapping of the enclosing API, service or method.

    In a method it serves the method over gRPC; in a service or the API it holds error
    mappings (`Response("name", Code...)`) and, for a service, its `Package`.
    """
    where = Location.here()
    top = _need((APIExpr, ServiceExpr, MethodExpr), "GRPC", where, "API, Service or Method")
    if top.grpc is None:
        top.grpc = GRPCExpr(location=where)
    block: GRPCExpr = top.grpc
    return _Block(block)


def _owner() -> object:
    for item in reversed(_state.stack[:-1]):
        if isinstance(item, APIExpr | ServiceExpr | MethodExpr):
            return item
    return None  # pragma: no cover - a GRPC block is always inside one


def Package(name: str) -> None:
    """Name the protobuf package of the enclosing service (default: its name, snake_case)."""
    where = Location.here()
    block = _need((GRPCExpr,), "Package", where, "the GRPC block of a Service")
    if not isinstance(_owner(), ServiceExpr):
        raise _fail(where, "Package must be called inside the GRPC block of a Service")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name or ""):
        raise _fail(where, f"Package {name!r} is not a protobuf package name (e.g. 'orders.v1')")
    block.package = name


def _names_block(fn: str, names: tuple[str, ...], where: Location) -> _Block[AttributeExpr]:
    block = _need((GRPCExpr,), fn, where, "the GRPC block of a Method")
    if not isinstance(_owner(), MethodExpr):
        raise _fail(where, f"{fn} must be called inside the GRPC block of a Method")
    target = block.message_names if fn == "Message" else block.metadata_names
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise _fail(where, f"{fn}: {n!r} is not an attribute name")
        target.append((n.strip(), where))
    holder = AttributeExpr(name=fn.lower(), type=ObjectExpr(), location=where)
    block.blocks.append((fn, holder))
    return _Block(holder)


def Message(*names: str) -> _Block[AttributeExpr]:
    """Name payload attributes the request message carries, credentials included.

    Credentials travel as metadata unless named here: `Message("token")`, or a block
    `with Message(): Attribute("token")` as in Goa. For a payload that is not an object,
    one name sets the message's only field name (default "field").
    """
    return _names_block("Message", names, Location.here())


def Metadata(*names: str) -> _Block[AttributeExpr]:
    """Read payload attributes from the request metadata: `Metadata("id", "trace:x-trace")`.

    `attr:key` reads attribute `attr` from metadata key `key` (default: the attribute's
    name in lower case). A block `with Metadata(): Attribute("id")` works as in Goa.
    """
    return _names_block("Metadata", names, Location.here())


def grpc_response(code: int | str, status: int | None, where: Location) -> _Block[None]:
    """`Response(...)` inside a GRPC block: the result's code, or an error's (`_http` calls it)."""
    block = _need((GRPCExpr,), "Response", where, "GRPC")
    if isinstance(code, str):
        if status is None:
            raise _fail(where, f"Response({code!r}) needs a code: Response({code!r}, "
                        "CodeNotFound)")
        for e in block.errors:
            if e.name == code:
                raise _fail(where, f"error {code!r} is mapped twice (first at {e.location})")
        block.errors.append(GRPCErrorExpr(code, _code(status, where), where))
        return _Block(None)
    if status is not None:
        raise _fail(where, f"Response({code!r}, {status!r}): name the error first, "
                    "Response('not_found', CodeNotFound)")
    if not isinstance(_owner(), MethodExpr):
        raise _fail(where, "a result Response must be declared in the GRPC block of a Method")
    if _code(code, where) != CodeOK:
        raise _fail(where, f"a gRPC result is sent with CodeOK, not {CODE_NAMES[code]}: map "
                    "errors with Response('name', Code...)")
    if block.response_code is not None:
        raise _fail(where, f"the result Response is declared twice (first at "
                    f"{block.response_at})")
    block.response_code, block.response_at = code, where
    return _Block(None)


def _code(code: object, where: Location) -> int:
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 16:
        raise _fail(where, f"{code!r} is not a gRPC code: use CodeNotFound, CodeInternal...")
    return code


# ---------------------------------------------------------------------------- fields


def _tag(tag: object, where: Location) -> int:
    # Goa accepts any value and formats it; a number or its digits is what makes sense.
    if isinstance(tag, str) and tag.strip().isdigit():
        tag = int(tag)
    if not isinstance(tag, int) or isinstance(tag, bool):
        raise _fail(where, f"field number {tag!r} is not an integer")
    if not 1 <= tag <= MAX_TAG or tag in _RESERVED_TAGS:
        raise _fail(where, f"field number {tag} is outside 1..{MAX_TAG} or in 19000..19999, "
                    "which protobuf reserves")
    return tag


def _tagged(block: _Block[AttributeExpr], tag: int) -> _Block[AttributeExpr]:
    block.expr.meta["rpc:tag"] = tag
    return block


def Field(
    tag: int | str,
    name: str,
    type: DataType | str | None = None,
    description: str | None = None,
    **validations: Any,
) -> _Block[AttributeExpr]:
    """`Attribute` with a protobuf field number: `Field(1, "id", String, format=UUID)`."""
    n = _tag(tag, Location.here())
    return _tagged(Attribute(name, type, description, **validations), n)


def UsernameField(
    tag: int | str, name: str, type: DataType | str | None = None,
    description: str | None = None, **v: Any,
) -> _Block[AttributeExpr]:
    """`Username` with a field number (used when the credential travels in the message)."""
    n = _tag(tag, Location.here())
    return _tagged(Username(name, type, description, **v), n)


def PasswordField(
    tag: int | str, name: str, type: DataType | str | None = None,
    description: str | None = None, **v: Any,
) -> _Block[AttributeExpr]:
    """`Password` with a field number."""
    n = _tag(tag, Location.here())
    return _tagged(Password(name, type, description, **v), n)


def APIKeyField(
    tag: int | str, scheme: str, name: str, type: DataType | str | None = None,
    description: str | None = None, **v: Any,
) -> _Block[AttributeExpr]:
    """`APIKey` with a field number."""
    n = _tag(tag, Location.here())
    return _tagged(APIKey(scheme, name, type, description, **v), n)


def TokenField(
    tag: int | str, name: str, type: DataType | str | None = None,
    description: str | None = None, **v: Any,
) -> _Block[AttributeExpr]:
    """`Token` (a JWT) with a field number."""
    n = _tag(tag, Location.here())
    return _tagged(Token(name, type, description, **v), n)


def AccessTokenField(
    tag: int | str, name: str, type: DataType | str | None = None,
    description: str | None = None, **v: Any,
) -> _Block[AttributeExpr]:
    """`AccessToken` (OAuth2) with a field number."""
    n = _tag(tag, Location.here())
    return _tagged(AccessToken(name, type, description, **v), n)


def rpc_tag(attr: AttributeExpr) -> int | None:
    """The attribute's field number (`Field(n)` or meta `rpc:tag`), or None; ValueError if bad.

    A meta value may be a number, its digits, or a list of them (Goa's Meta keeps a
    list; the last one wins).
    """
    value = attr.meta.get("rpc:tag")
    if isinstance(value, list | tuple):
        value = value[-1] if value else None
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"meta 'rpc:tag' {value!r} is not a field number")
    if not 1 <= value <= MAX_TAG or value in _RESERVED_TAGS:
        raise ValueError(f"field number {value} is outside 1..{MAX_TAG} or in 19000..19999")
    return int(value)


# ---------------------------------------------------------------------------- checks


def check_grpc(api: APIExpr, problems: _Problems) -> None:
    """Check every tag of the design, and every gRPC mapping; fill in where attributes travel."""
    _check_tags(api, problems)
    levels: list[tuple[GRPCExpr | None, str, set[str]]] = [
        (api.grpc, "no method of the API", {e.name for m in api.methods() for e in m.all_errors()})
    ]
    for svc in api.services.values():
        names = {e.name for e in [*api.errors, *svc.errors]}
        names |= {e.name for m in svc.methods.values() for e in m.errors}
        levels.append((svc.grpc, f"no method of service {svc.name!r}", names))
    for level, nobody, declared in levels:
        if level is None:
            continue
        for e in level.errors:
            if e.name not in declared:
                problems.add(e.location, f"GRPC Response maps error {e.name!r}, which {nobody} "
                             "declares")
    for m in api.methods():
        if m.grpc is None:
            if m.stream_kind is not None and m.http is None:
                where = (m.streaming_payload or m.result or m).location
                problems.add(where, f"{m.qualified} streams, and only gRPC serves streams: "
                             "add a GRPC() block")
            continue
        _check_method(m, m.grpc, problems)
    for m in api.methods():
        if m.stream_kind is not None and m.http is not None:
            problems.add(m.http.location, f"{m.qualified} streams; streams are served over gRPC "
                         "only, so remove its HTTP block")


def _objects(attr: AttributeExpr | None, seen: set[int], out: list[tuple[ObjectExpr, str]],
             owner: str) -> None:
    """Every object reachable from `attr` (user types once), with a name for messages."""
    if attr is None:
        return
    t = attr.type
    if isinstance(t, UserTypeExpr):
        if id(t) in seen:
            return
        seen.add(id(t))
        out.append((t.object, f"type {t.name!r}"))
        for a in t.object.attributes.values():
            _objects(a, seen, out, f"type {t.name!r}")
    elif isinstance(t, ObjectExpr):
        if id(t) in seen:
            return
        seen.add(id(t))
        out.append((t, owner))
        for a in t.attributes.values():
            _objects(a, seen, out, f"{owner}, attribute {a.name!r}")
    elif isinstance(t, ArrayExpr):
        _objects(t.elem, seen, out, owner)
    elif isinstance(t, MapExpr):
        _objects(t.key, seen, out, owner)
        _objects(t.elem, seen, out, owner)


def _check_tags(api: APIExpr, problems: _Problems) -> None:
    # Unique within a type, for every design (issue: tags are kept for gRPC either way).
    seen: set[int] = set()
    objects: list[tuple[ObjectExpr, str]] = []
    for ut in api.types.values():
        _objects(ut.attribute, seen, objects, f"type {ut.name!r}")
    for m in api.methods():
        _objects(m.payload, seen, objects, f"payload of {m.qualified}")
        _objects(m.result, seen, objects, f"result of {m.qualified}")
        _objects(m.streaming_payload, seen, objects, f"streaming payload of {m.qualified}")
        for e in m.all_errors():
            if e.type is not None:
                _objects(AttributeExpr(e.name, e.type, e.location), seen, objects,
                         f"error {e.name!r}")
    for obj, owner in objects:
        by_tag: dict[int, AttributeExpr] = {}
        for a in obj.attributes.values():
            try:
                tag = rpc_tag(a)
            except ValueError as exc:
                problems.add(a.location, f"{owner}: attribute {a.name!r}: {exc}")
                continue
            if tag is None:
                continue
            first = by_tag.setdefault(tag, a)
            if first is not a:
                problems.add(a.location, f"{owner}: field number {tag} of attribute {a.name!r} "
                             f"is already used by attribute {first.name!r} (at "
                             f"{first.location})")


def _split(mapping: str) -> tuple[str, str]:
    attr, _, key = mapping.partition(":")
    return attr.strip(), (key or attr).strip().lower()


def _check_method(m: MethodExpr, g: GRPCExpr, problems: _Problems) -> None:
    declared = {e.name for e in m.all_errors()}
    for e in g.errors:
        if e.name not in declared:
            problems.add(e.location, f"{m.qualified}: GRPC Response maps error {e.name!r}, "
                         f"which the method does not declare (declared: "
                         f"{', '.join(sorted(declared)) or 'none'})")
    # Names from the block forms (`with Message(): Attribute("x")`) join the call forms.
    for fn, holder in g.blocks:
        obj = holder.type
        if isinstance(obj, ObjectExpr):
            target = g.message_names if fn == "Message" else g.metadata_names
            target.extend((n, a.location) for n, a in obj.attributes.items())
    payload = m.payload
    pobj = payload.object if payload is not None else None
    attrs = pobj.attributes if pobj is not None else {}
    in_message = {n for n, _ in g.message_names}
    metadata: dict[str, str] = {}
    if pobj is None:
        if g.metadata_names:
            problems.add(g.metadata_names[0][1], f"{m.qualified}: Metadata needs an object "
                         "payload")
        if len(g.message_names) > 1:
            problems.add(g.message_names[1][1], f"{m.qualified}: the payload is not an object, "
                         "so Message names its one field only")
        if payload is None and g.message_names:
            problems.add(g.message_names[0][1], f"{m.qualified}: Message names attributes but "
                         "the method has no Payload")
    else:
        for name, where in g.message_names:
            if name not in attrs:
                problems.add(where, f"{m.qualified}: Message names {name!r}, which is not a "
                             f"payload attribute (attributes: {', '.join(attrs) or 'none'})")
        for mapping, where in g.metadata_names:
            name, key = _split(mapping)
            if name not in attrs:
                problems.add(where, f"{m.qualified}: Metadata names {name!r}, which is not a "
                             f"payload attribute (attributes: {', '.join(attrs) or 'none'})")
                continue
            if name in in_message:
                problems.add(where, f"{m.qualified}: attribute {name!r} is both in the "
                             "Message and in the Metadata; keep one")
                continue
            metadata[name] = key
        for name, a in attrs.items():
            if a.credential is not None and name not in in_message and name not in metadata:
                metadata[name] = _CREDENTIAL_KEYS[a.credential]
            elif m.streaming_payload is not None and name not in metadata:
                # As Goa: with a client stream, the payload is sent once, as metadata.
                if name in in_message:
                    problems.add(a.location, f"{m.qualified} streams its payload messages, so "
                                 f"its Payload travels as metadata; {name!r} cannot be in a "
                                 "Message")
                metadata[name] = name.lower()
        by_key: dict[str, str] = {}
        for name, key in metadata.items():
            a = attrs[name]
            where = next((w for n, w in g.metadata_names if _split(n)[0] == name), a.location)
            if not _METADATA_KEY.match(key) or key.startswith("grpc-"):
                problems.add(where, f"{m.qualified}: metadata key {key!r} of {name!r} is not a "
                             "gRPC metadata key (lower-case letters, digits, '-', '_', '.'; "
                             "not 'grpc-...')")
            elif key.endswith("-bin") != (_kind(a.type) == "bytes"):
                problems.add(where, f"{m.qualified}: metadata key {key!r} of {name!r}: binary "
                             "values (Bytes) take keys ending in '-bin', and only they do")
            if not _metadata_type(a.type):
                problems.add(where, f"{m.qualified}: attribute {name!r} of type "
                             f"{a.type_name()} cannot travel as metadata: only primitives "
                             "and arrays of primitives can")
            other = by_key.setdefault(key, name)
            if other != name:
                both = {attrs[other].credential, a.credential}
                if not both <= {"token", "accesstoken", "username", "password"}:
                    # Bearer and Basic share Authorization, told apart by its scheme word.
                    where = next((w for n, w in g.metadata_names
                                  if _split(n)[0] in (name, other)), where)
                    problems.add(where, f"{m.qualified}: attributes {other!r} and {name!r} are "
                                 f"both read from metadata key {key!r}; map one elsewhere with "
                                 "Metadata('attr:key')")
    g.metadata = metadata
    g.fields = [n for n in attrs if n not in metadata]

    # Every attribute that goes into a message needs a field number.
    seen: set[int] = set()
    objects: list[tuple[ObjectExpr, str]] = []
    if pobj is not None:
        top = ObjectExpr(attributes={n: attrs[n] for n in g.fields})
        objects.append((top, f"payload of {m.qualified}"))
        for n in g.fields:
            _objects(attrs[n], seen, objects, f"payload of {m.qualified}")
    elif payload is not None:
        _objects(payload, seen, objects, f"payload of {m.qualified}")
    _objects(m.result, seen, objects, f"result of {m.qualified}")
    _objects(m.streaming_payload, seen, objects, f"streaming payload of {m.qualified}")
    for obj, owner in objects:
        for a in obj.attributes.values():
            try:
                missing = rpc_tag(a) is None
            except ValueError:
                continue  # reported by _check_tags
            if missing:
                problems.add(a.location, f"{owner}: attribute {a.name!r} has no field number, "
                             f"which gRPC method {m.name!r} needs: declare it with "
                             f"Field(n, {a.name!r}, ...) or meta={{'rpc:tag': n}}")
    for attr, what in ((payload, "payload"), (m.result, "result"),
                       (m.streaming_payload, "streaming payload")):
        bad = _unsupported(attr, set())
        if bad is not None:
            problems.add(bad.location, f"{m.qualified}: {what} attribute {bad.name!r} is "
                         f"{bad.type_name()}, which gRPC cannot carry (no Any; map keys are "
                         "strings or integers; a map's values and an array's items cannot be "
                         "arrays or maps)")


def _kind(t: DataType | None) -> str:
    if isinstance(t, Primitive):
        return t.kind
    return "other"


def _metadata_type(t: DataType | None) -> bool:
    if isinstance(t, Primitive):
        return t.kind != "any"
    if isinstance(t, ArrayExpr):
        return isinstance(t.elem.type, Primitive) and t.elem.type.kind not in ("any", "bytes")
    return False


def _unsupported(attr: AttributeExpr | None, seen: set[int]) -> AttributeExpr | None:
    """The first attribute under `attr` protobuf cannot represent, if any."""
    if attr is None:
        return None
    t = attr.type
    if isinstance(t, Primitive):
        return attr if t.kind == "any" else None
    if isinstance(t, ArrayExpr):
        if isinstance(t.elem.type, ArrayExpr | MapExpr):
            return attr
        return _unsupported(t.elem, seen)
    if isinstance(t, MapExpr):
        key = t.key.type
        if not isinstance(key, Primitive) or key.kind not in ("string", "integer", "boolean"):
            return attr
        if isinstance(t.elem.type, ArrayExpr | MapExpr):
            return attr
        return _unsupported(t.elem, seen)
    obj = attr.object
    if obj is None or id(obj) in seen:
        return None
    seen.add(id(obj))
    for a in obj.attributes.values():
        found = _unsupported(a, seen)
        if found is not None:
            return found
    return None
