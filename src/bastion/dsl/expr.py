"""The expression tree a design builds: plain data, checked once by `APIExpr.finalize`.

The DSL functions in `bastion.dsl` create these objects; every other layer (schema,
endpoint, security, http, openapi) reads them and never writes them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "APIExpr",
    "ArrayExpr",
    "AttributeExpr",
    "DataType",
    "ErrorExpr",
    "FlowExpr",
    "HTTPErrorExpr",
    "HTTPMethodExpr",
    "HTTPResponseExpr",
    "Location",
    "MapExpr",
    "MethodExpr",
    "ObjectExpr",
    "Primitive",
    "RateLimitExpr",
    "RequirementExpr",
    "RouteExpr",
    "SchemeExpr",
    "SchemeKind",
    "ServiceExpr",
    "TypeRef",
    "UserTypeExpr",
]

_DSL_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True, slots=True)
class Location:
    """Where the user wrote an element: the first frame outside `bastion.dsl`."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    @classmethod
    def here(cls) -> Location:
        """Return the location of the user's DSL call that is running now."""
        frame = sys._getframe(1)
        while frame is not None and os.path.dirname(
            os.path.abspath(frame.f_code.co_filename)
        ) == _DSL_DIR:
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None:  # pragma: no cover - the DSL is always called from somewhere
            return cls("<unknown>", 0)
        return cls(frame.f_code.co_filename, frame.f_lineno)


# ---------------------------------------------------------------------------- types


class DataType:
    """Base of every design type; each has a `name` as the DSL spells it."""

    name: str

    def describe(self) -> str:
        """Return the type as the DSL spells it, for messages."""
        return self.name


@dataclass(eq=False)
class Primitive(DataType):
    """A primitive type: `Boolean`, `Int32`, `String`, `Bytes`, `Any`…"""

    name: str
    kind: Literal["boolean", "integer", "number", "string", "bytes", "any"]
    # Bounds of the wire type (Int32 is checked against 32 bits even in Python).
    low: int | None = None
    high: int | None = None
    json_format: str | None = None

    def __hash__(self) -> int:
        return id(self)


@dataclass(eq=False)
class ArrayExpr(DataType):
    """`ArrayOf(T)`: a JSON array whose elements are described by `elem`."""

    elem: AttributeExpr

    @property
    def name(self) -> str:  # type: ignore[override]
        """`ArrayOf(T)`, as the DSL spells it."""
        return f"ArrayOf({self.elem.type_name()})"


@dataclass(eq=False)
class MapExpr(DataType):
    """`MapOf(K, V)`: a JSON object with keys of type K and values of type V."""

    key: AttributeExpr
    elem: AttributeExpr

    @property
    def name(self) -> str:  # type: ignore[override]
        """`MapOf(K, V)`, as the DSL spells it."""
        return f"MapOf({self.key.type_name()}, {self.elem.type_name()})"


@dataclass(eq=False)
class ObjectExpr(DataType):
    """An object: ordered attributes and the names that are required."""

    attributes: dict[str, AttributeExpr] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    required_at: dict[str, Location] = field(default_factory=dict)

    name: str = "Object"


@dataclass(eq=False)
class UserTypeExpr(DataType):
    """A named type declared with `Type(name)`; its body is an object attribute."""

    name: str
    attribute: AttributeExpr
    location: Location

    @property
    def object(self) -> ObjectExpr:
        """The type's object (user types are objects)."""
        t = self.attribute.type
        if not isinstance(t, ObjectExpr):  # pragma: no cover - guarded by the DSL
            raise TypeError(f"type {self.name!r} is not an object")
        return t


@dataclass(eq=False)
class TypeRef(DataType):
    """A type named by string before (or after) it is declared; resolved by finalize."""

    name: str
    location: Location


@dataclass(eq=False)
class AttributeExpr:
    """An attribute: a name, a type and the validations the design puts on it."""

    name: str
    type: DataType | None
    location: Location
    description: str | None = None
    default: Any = None
    has_default: bool = False
    example: Any = None
    enum: tuple[Any, ...] | None = None
    format: str | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    # Security: which credential this attribute carries, for which scheme kind.
    credential: Literal["username", "password", "apikey", "token", "accesstoken"] | None = None
    credential_scheme: str | None = None
    # Goa's Meta: free-form keys; Bastion reads "sensitive" (redacted in logs, spans, bodies).
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sensitive(self) -> bool:
        """Whether values of this attribute are redacted: a credential, or marked sensitive."""
        return self.credential is not None or self.meta.get("sensitive") is True

    def type_name(self) -> str:
        """Return the attribute's type as the DSL spells it."""
        return self.type.describe() if self.type is not None else "String"

    @property
    def object(self) -> ObjectExpr | None:
        """The attribute's object, following user types; None for non-objects."""
        t = self.type
        if isinstance(t, UserTypeExpr):
            return t.object
        if isinstance(t, ObjectExpr):
            return t
        return None


# ---------------------------------------------------------------------------- security


@dataclass(eq=False)
class FlowExpr:
    """One OAuth2 flow: its kind and URLs."""

    kind: Literal["authorization_code", "implicit", "password", "client_credentials"]
    authorize_url: str | None = None
    token_url: str | None = None
    refresh_url: str | None = None


class SchemeKind(StrEnum):
    """The kinds of security scheme a design can declare; each has one auth handler.

    A `StrEnum`: each member equals its value (`SchemeKind.JWT == "jwt"`), which is how
    the kind reads in OpenAPI, logs and metric labels.
    """

    BASIC = "basic"
    APIKEY = "apikey"
    JWT = "jwt"
    OAUTH2 = "oauth2"

    @property
    def is_bearer(self) -> bool:
        """Whether the credential is a bearer token (`Authorization: Bearer ...`)."""
        return self in (SchemeKind.JWT, SchemeKind.OAUTH2)

    @property
    def has_scopes(self) -> bool:
        """Whether schemes of this kind declare scopes (the bearer kinds do)."""
        return self.is_bearer


@dataclass(eq=False)
class SchemeExpr:
    """A security scheme: Basic, API key, JWT or OAuth2, with its declared scopes."""

    name: str
    kind: SchemeKind
    location: Location
    description: str | None = None
    scopes: dict[str, str] = field(default_factory=dict)
    flows: list[FlowExpr] = field(default_factory=list)
    rate_limit: str | None = None


@dataclass(eq=False)
class RequirementExpr:
    """One `Security(...)` call: all of `schemes` must pass, with `scopes` required."""

    schemes: list[SchemeExpr | str]
    scopes: list[str]
    location: Location


@dataclass(eq=False)
class RateLimitExpr:
    """`RateLimit("100/minute")`: a request limit per credential (API key) or client."""

    limit: str
    location: Location


# ---------------------------------------------------------------------------- errors


@dataclass(eq=False)
class ErrorExpr:
    """A design error a method may return, with the flags Goa gives it."""

    name: str
    location: Location
    type: DataType | None = None
    description: str | None = None
    temporary: bool = False
    timeout: bool = False
    fault: bool = False


# ---------------------------------------------------------------------------- HTTP


@dataclass(eq=False)
class RouteExpr:
    """One HTTP route of a method: a verb and a path template (service prefix applied)."""

    verb: str
    path: str
    location: Location
    full_path: str = ""

    @property
    def params(self) -> list[str]:
        """Names of the `{param}` and `{*wildcard}` segments, in order."""
        out = []
        for seg in self.full_path.split("/"):
            if seg.startswith("{") and seg.endswith("}"):
                out.append(seg[1:-1].lstrip("*"))
        return out


@dataclass(eq=False)
class HTTPErrorExpr:
    """`Response("not_found", StatusNotFound)`: an error mapped to a status."""

    name: str
    status: int
    location: Location


@dataclass(eq=False)
class HTTPResponseExpr:
    """`Response(status)`: how a result is written: status, headers, body attribute."""

    status: int
    location: Location
    headers: dict[str, str] = field(default_factory=dict)  # attribute -> header name
    body: str | None = None  # None: the whole result (minus header attributes)
    body_set: bool = False


@dataclass(eq=False)
class HTTPMethodExpr:
    """A method's HTTP mapping: routes, where each payload attribute comes from, responses."""

    location: Location
    routes: list[RouteExpr] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)  # attribute -> query name
    headers: dict[str, str] = field(default_factory=dict)  # attribute -> header name
    cookies: dict[str, str] = field(default_factory=dict)  # attribute -> cookie name
    body: str | None = None  # attribute name; None: the unmapped rest of the payload
    body_set: bool = False
    body_location: Location | None = None
    response: HTTPResponseExpr | None = None
    errors: list[HTTPErrorExpr] = field(default_factory=list)
    mapped_at: dict[str, Location] = field(default_factory=dict)
    # Filled by finalize: credentials read from `Authorization` (attribute -> "bearer",
    # "basic-username" or "basic-password").
    authorization: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------- services


@dataclass(eq=False)
class MethodExpr:
    """A service method: payload, result, errors, security and HTTP mapping."""

    name: str
    service: ServiceExpr
    location: Location
    description: str | None = None
    payload: AttributeExpr | None = None
    result: AttributeExpr | None = None
    errors: list[ErrorExpr] = field(default_factory=list)
    requirements: list[RequirementExpr] = field(default_factory=list)
    no_security: Location | None = None
    rate_limit: RateLimitExpr | None = None
    http: HTTPMethodExpr | None = None
    # Streams (Goa's StreamingPayload / StreamingResult): the type of each message the
    # client streams, and whether `result` is the type of each message the method streams.
    streaming_payload: AttributeExpr | None = None
    streaming_result: bool = False
    # The gRPC mapping (`bastion.dsl._grpc.GRPCExpr`); the method is served over gRPC iff set.
    grpc: Any = None

    @property
    def stream_kind(self) -> Literal["server", "client", "bidirectional"] | None:
        """Which side streams: Goa's stream kinds, or None for a unary method."""
        if self.streaming_payload is not None:
            return "bidirectional" if self.streaming_result else "client"
        return "server" if self.streaming_result else None

    @property
    def qualified(self) -> str:
        """`method 'show' of service 'orders'`, for messages."""
        return f"method {self.name!r} of service {self.service.name!r}"

    def effective_requirements(self) -> list[RequirementExpr]:
        """The requirements that apply: the nearest level that sets any wins."""
        if self.no_security is not None:
            return []
        if self.requirements:
            return self.requirements
        if self.service.requirements:
            return self.service.requirements
        return self.service.api.requirements

    def all_errors(self) -> list[ErrorExpr]:
        """Errors the method may return: its own, then its service's, then the API's."""
        seen: dict[str, ErrorExpr] = {}
        for e in [*self.errors, *self.service.errors, *self.service.api.errors]:
            seen.setdefault(e.name, e)
        return list(seen.values())

    def error_status(self, name: str) -> int | None:
        """The HTTP status the nearest mapping gives error `name`, if any."""
        for mapping in (self.http, self.service.http, self.service.api.http):
            if mapping is not None:
                for m in mapping.errors:
                    if m.name == name:
                        return m.status
        return None


@dataclass(eq=False)
class ServiceExpr:
    """A service: a named group of methods with shared errors, security and HTTP prefix."""

    name: str
    api: APIExpr
    location: Location
    description: str | None = None
    methods: dict[str, MethodExpr] = field(default_factory=dict)
    errors: list[ErrorExpr] = field(default_factory=list)
    requirements: list[RequirementExpr] = field(default_factory=list)
    rate_limit: RateLimitExpr | None = None
    http: HTTPMethodExpr | None = None
    path_prefix: str = ""
    grpc: Any = None  # the service's gRPC block: package, error codes


@dataclass(eq=False)
class APIExpr:
    """The root of a design: the API, its types, schemes and services."""

    name: str
    location: Location
    title: str | None = None
    description: str | None = None
    version: str = "0.0.1"
    servers: list[tuple[str, str | None]] = field(default_factory=list)
    types: dict[str, UserTypeExpr] = field(default_factory=dict)
    services: dict[str, ServiceExpr] = field(default_factory=dict)
    schemes: dict[str, SchemeExpr] = field(default_factory=dict)
    errors: list[ErrorExpr] = field(default_factory=list)
    requirements: list[RequirementExpr] = field(default_factory=list)
    http: HTTPMethodExpr | None = None
    path_prefix: str = ""
    grpc: Any = None  # the API's gRPC block: error codes
    finalized: bool = False

    def finalize(self) -> APIExpr:
        """Resolve references and check the whole design; raise `DesignError` on problems.

        Idempotent: the second call returns at once.
        """
        if not self.finalized:
            from bastion.dsl._check import finalize

            finalize(self)
            self.finalized = True
        return self

    def methods(self) -> list[MethodExpr]:
        """Every method of every service, in declaration order."""
        return [m for s in self.services.values() for m in s.methods.values()]
