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
all (`bastion.dsl._grpc_check`) and fills in where each payload attribute travels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

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
    AttributeExpr,
    DataType,
    Location,
    MethodExpr,
    ObjectExpr,
    ServiceExpr,
)

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
