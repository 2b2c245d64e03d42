"""The expression tree a design builds: plain data, checked once by `APIExpr.finalize`.

The DSL functions in `bastion.dsl` create these objects; every other layer (schema,
endpoint, security, http, openapi) reads them and never writes them.
"""

from __future__ import annotations

import keyword
import os
import re
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "DEFAULT_VIEW",
    "EMPTY",
    "ERROR_RESULT",
    "APIExpr",
    "ArrayExpr",
    "AttributeExpr",
    "DataType",
    "ErrorExpr",
    "FileServerExpr",
    "FlowExpr",
    "HTTPErrorExpr",
    "HTTPMethodExpr",
    "HTTPResponseExpr",
    "HostExpr",
    "Location",
    "MapExpr",
    "MethodExpr",
    "ObjectExpr",
    "Primitive",
    "RateLimitExpr",
    "RequirementExpr",
    "ResultTypeExpr",
    "RouteExpr",
    "SchemeExpr",
    "SchemeKind",
    "ServerExpr",
    "ServiceExpr",
    "TypeRef",
    "UnionExpr",
    "UserTypeExpr",
    "ViewExpr",
    "identifier",
    "meta_flag",
    "meta_value",
]

#: The view every result type has, rendered when no other is named (as in Goa).
DEFAULT_VIEW = "default"


def identifier(name: str) -> str:
    """The Python identifier for a design name (the wire name is kept apart)."""
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit():
        ident = "_" + ident
    if keyword.iskeyword(ident):
        ident += "_"
    return ident


def meta_value(meta: dict[str, Any], key: str) -> str | None:
    """The first value of Goa meta key `key` (`""` when set without a value), or None."""
    if key not in meta:
        return None
    value = meta[key]
    if isinstance(value, list | tuple):
        return str(value[0]) if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def meta_flag(meta: dict[str, Any], key: str, default: bool = True) -> bool:
    """Meta key `key` read as a boolean (`"false"` is False), `default` when unset."""
    value = meta_value(meta, key)
    if value is None:
        return default
    return value.strip().lower() not in ("false", "0", "no", "off")

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
    # `Extend(T)`: types whose attributes this object gets; `Reference(T)`: types its
    # attributes of the same name take their definition from. Applied by finalize.
    bases: list[tuple[DataType, Location]] = field(default_factory=list)
    references: list[tuple[DataType, Location]] = field(default_factory=list)

    name: str = "Object"


@dataclass(eq=False)
class UserTypeExpr(DataType):
    """A named type declared with `Type(name)`: an object, or a named primitive, array or map.

    Finalize replaces every use of a named primitive, array or map by the type it names
    (its validations merged into the attribute), so after it a user type in an
    attribute is always an object.
    """

    name: str
    attribute: AttributeExpr
    location: Location

    @property
    def object(self) -> ObjectExpr:
        """The type's object (raises TypeError for a named primitive, array or map)."""
        t = self.attribute.type
        if not isinstance(t, ObjectExpr):
            raise TypeError(f"type {self.name!r} is not an object")
        return t

    @property
    def is_object(self) -> bool:
        """Whether the type is an object (not a named primitive, array or map)."""
        return isinstance(self.attribute.type, ObjectExpr)

    @property
    def meta(self) -> dict[str, Any]:
        """The type's Goa meta (kept on its attribute)."""
        return self.attribute.meta


@dataclass(eq=False)
class ViewExpr:
    """`View(name)` of a result type: the attributes it renders, each possibly in a view."""

    name: str
    location: Location
    attributes: dict[str, AttributeExpr] = field(default_factory=dict)


@dataclass(eq=False)
class ResultTypeExpr(UserTypeExpr):
    """`ResultType(identifier, name)`: a user type rendered in views (Goa's result types).

    `CollectionOf(T)` is a result type too: its attribute is an array of `T` and its
    views are `T`'s. Finalize adds a `default` view listing every attribute when the
    design declares none, and fills `projections`: for each view, the type a result
    rendered in it is (a plain user type holding the view's attributes only).
    """

    identifier: str = ""
    views: dict[str, ViewExpr] = field(default_factory=dict)
    collection_of: ResultTypeExpr | None = None
    collections: dict[str, ResultTypeExpr] = field(default_factory=dict)  # CollectionOf(self)
    projections: dict[str, DataType] = field(default_factory=dict)

    def view_names(self) -> list[str]:
        """The names of the views, `default` first."""
        names = list(self.views)
        if DEFAULT_VIEW in names:
            names.remove(DEFAULT_VIEW)
        return [DEFAULT_VIEW, *names]


@dataclass(eq=False)
class UnionExpr(DataType):
    """`OneOf(name)`: a value of one of several named types, tagged as Goa tags it.

    On the wire it is `{"Type": "<alternative>", "Value": "<the value, JSON encoded>"}`.
    """

    name: str
    alternatives: dict[str, AttributeExpr] = field(default_factory=dict)
    location: Location | None = None

    def describe(self) -> str:
        """`OneOf(a, b)`, as messages spell it."""
        return f"OneOf({', '.join(self.alternatives)})"


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
    # Goa's Meta: free-form keys; Bastion reads "sensitive" (redacted in logs, spans, bodies),
    # the `struct:*` and `openapi:*` keys. `Meta(key, values...)` stores lists of strings.
    meta: dict[str, Any] = field(default_factory=dict)
    # In a view, or on a result: the view a result-type attribute is rendered in.
    view: str | None = None
    view_location: Location | None = None

    @property
    def sensitive(self) -> bool:
        """Whether values of this attribute are redacted: a credential, or marked sensitive."""
        return self.credential is not None or meta_flag(self.meta, "sensitive", False)

    @property
    def wire_name(self) -> str:
        """The attribute's name in JSON: `struct:tag:json` when the design sets it."""
        tag = meta_value(self.meta, "struct:tag:json")
        if tag:
            name = tag.split(",", 1)[0].strip()
            if name:
                return name
        return self.name

    @property
    def field_name(self) -> str:
        """The attribute's name in Python (a Struct field): `struct:field:name` or the name."""
        name = meta_value(self.meta, "struct:field:name")
        return name if name else identifier(self.name)

    def type_name(self) -> str:
        """Return the attribute's type as the DSL spells it."""
        return self.type.describe() if self.type is not None else "String"

    @property
    def object(self) -> ObjectExpr | None:
        """The attribute's object, following user types; None for non-objects."""
        t = self.type
        if isinstance(t, UserTypeExpr):
            return t.attribute.object
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

    @property
    def typed(self) -> bool:
        """Whether the error's body is its own type rather than Bastion's error object."""
        return self.type is not None and self.type is not ERROR_RESULT


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
class HTTPResponseExpr:
    """`Response(status)`: how a result (or an error) is written: status, headers, cookies, body.

    `tag` selects the response: `Tag("outcome", "created")` makes it the answer for results
    whose `outcome` attribute is `"created"`; the response without a tag is the default.
    """

    status: int
    location: Location
    headers: dict[str, str] = field(default_factory=dict)  # attribute -> header name
    cookies: dict[str, str] = field(default_factory=dict)  # attribute -> cookie name
    # Attributes of every cookie of the response: max-age, domain, path, secure,
    # http-only, same-site (Goa's Cookie* functions).
    cookie_attributes: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # None: the whole result (minus header attributes)
    body_set: bool = False
    body_empty: bool = False  # Body(Empty): no body at all
    tag: tuple[str, str] | None = None
    tag_location: Location | None = None
    description: str | None = None
    mapped_at: dict[str, Location] = field(default_factory=dict)
    content_type: str | None = None  # `ContentType("text/plain")`; None: negotiated


@dataclass(eq=False)
class HTTPErrorExpr:
    """`Response("not_found", StatusNotFound)`: an error mapped to a status.

    Used as a block, its `response` says how the error is written: `Description`,
    `Header("attr:Name")`, `Body("attr")` or `Body(Empty)`, and `Tag`.
    """

    name: str
    status: int
    location: Location
    response: HTTPResponseExpr | None = None


@dataclass(eq=False)
class FileServerExpr:
    """`Files("/static/{*path}", "public/")`: files served from disk at a path."""

    path: str
    filename: str
    location: Location
    description: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    full_path: str = ""  # the path with the API and service prefixes (set by finalize)
    root: str = ""  # `filename` made absolute (relative to the declaring file's folder)

    @property
    def is_dir(self) -> bool:
        """Whether the path ends in a `{*wildcard}`: a directory is served."""
        return self.path.rstrip("/").rsplit("/", 1)[-1].startswith("{*")


@dataclass(eq=False)
class HostExpr:
    """`Host(name, URI(...))` of a `Server`: URLs, with `{variables}` the design declares."""

    name: str
    location: Location
    description: str | None = None
    uris: list[str] = field(default_factory=list)
    variables: dict[str, AttributeExpr] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class ServerExpr:
    """`Server(name)`: a server hosting some services on some hosts (OpenAPI `servers`)."""

    name: str
    location: Location
    description: str | None = None
    services: list[str] = field(default_factory=list)
    services_at: Location | None = None
    hosts: list[HostExpr] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


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
    response: HTTPResponseExpr | None = None  # the default (untagged) result response
    tagged: list[HTTPResponseExpr] = field(default_factory=list)  # with `Tag(...)`
    errors: list[HTTPErrorExpr] = field(default_factory=list)
    mapped_at: dict[str, Location] = field(default_factory=dict)
    # `Param("page", Int, minimum=1)`, `Header(...)`, `Cookie(...)` with a type or
    # validations of their own: attribute -> what the HTTP block declares.
    declared: dict[str, AttributeExpr] = field(default_factory=dict)
    # `Required` inside `Params`/`Headers`: required in HTTP requests.
    required: dict[str, Location] = field(default_factory=dict)
    # `MapParams()`: "" maps the query string to the whole payload (a map), a name to
    # that map attribute; None when not used.
    map_params: str | None = None
    map_params_at: Location | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Filled by finalize: credentials read from `Authorization` (attribute -> "bearer",
    # "basic-username" or "basic-password").
    authorization: dict[str, str] = field(default_factory=dict)
    # Filled by finalize when the HTTP block refines payload attributes (`declared`,
    # `required`): the payload as HTTP requests carry it.
    payload: AttributeExpr | None = None
    # `ServerSentEvents()` in this block (`bastion.dsl._streams.SSEExpr`), or None.
    sse: Any = None
    # Multipart, raw streamed bodies, per-method body limits (`bastion.dsl._bodies`).
    bodies: Any = None

    @property
    def responses(self) -> list[HTTPResponseExpr]:
        """Every result response: the tagged ones in order, then the default."""
        return [*self.tagged, *([self.response] if self.response is not None else [])]


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
    meta: dict[str, Any] = field(default_factory=dict)
    # Filled by finalize when the result is a result type whose view the method does not
    # fix: each view's name and the result as rendered in it (the default one first).
    result_views: dict[str, AttributeExpr] = field(default_factory=dict)
    # Streams (Goa's StreamingPayload / StreamingResult): the type of each message the
    # client streams, and whether `result` is the type of each message the method streams.
    streaming_payload: AttributeExpr | None = None
    streaming_result: bool = False
    # The gRPC mapping (`bastion.dsl._grpc.GRPCExpr`); the method is served over gRPC iff set.
    grpc: Any = None
    # `ServerInterceptor(...)` / `ClientInterceptor(...)` here (`bastion.dsl._interceptors`).
    server_interceptors: list[Any] = field(default_factory=list)
    client_interceptors: list[Any] = field(default_factory=list)

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

    def credentials(self) -> dict[str, AttributeExpr]:
        """The payload attributes that carry a credential, by name (none unless an object).

        The design's one answer; `MethodInfo.credentials` holds it for the runtime.
        """
        obj = self.payload.object if self.payload is not None else None
        if obj is None:
            return {}
        return {n: a for n, a in obj.attributes.items() if a.credential is not None}

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
        """The HTTP status the nearest mapping gives error `name` (its untagged one), if any."""
        for mapping in (self.http, self.service.http, self.service.api.http):
            if mapping is not None:
                found = [m for m in mapping.errors if m.name == name]
                if found:
                    untagged = [m for m in found if m.response is None or m.response.tag is None]
                    return (untagged or found)[0].status
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
    meta: dict[str, Any] = field(default_factory=dict)
    files: list[FileServerExpr] = field(default_factory=list)
    # `ServerInterceptor(...)` / `ClientInterceptor(...)` here (`bastion.dsl._interceptors`).
    server_interceptors: list[Any] = field(default_factory=list)
    client_interceptors: list[Any] = field(default_factory=list)


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
    meta: dict[str, Any] = field(default_factory=dict)
    # `Server("calc")` blocks (with hosts and variables); `servers` holds plain URLs.
    server_defs: list[ServerExpr] = field(default_factory=list)
    # A design that declares no `API(...)` gets one, named after its first service.
    default: bool = False
    # `ValidateResults(False)`: results are written as returned, without being checked.
    validate_results: bool = True
    finalized: bool = False
    # Interceptors by name (`Interceptor(...)`), and those applied at the API level.
    interceptors: dict[str, Any] = field(default_factory=dict)
    server_interceptors: list[Any] = field(default_factory=list)
    client_interceptors: list[Any] = field(default_factory=list)

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


# ---------------------------------------------------------------------------- built-in types

_BUILTIN = Location("<bastion>", 0)


def _builtin_object(name: str, fields: dict[str, tuple[Primitive, str]],
                    required: list[str]) -> AttributeExpr:
    obj = ObjectExpr(
        attributes={n: AttributeExpr(n, t, _BUILTIN, description=d) for n, (t, d) in
                    fields.items()},
        required=list(required),
    )
    return AttributeExpr(name, obj, _BUILTIN)


_STRING = Primitive("String", "string")
_BOOLEAN = Primitive("Boolean", "boolean")

#: `ErrorResult`: the type of design errors declared without one, written as Bastion's
#: error object (`name`, `id`, `message`, `temporary`, `timeout`, `fault`, and `field`,
#: `details` when set).
ERROR_RESULT = ResultTypeExpr(
    name="ErrorResult",
    attribute=_builtin_object("ErrorResult", {
        "name": (_STRING, "The error's name, e.g. `not_found`."),
        "id": (_STRING, "Unique id of this occurrence, also in the server's logs."),
        "message": (_STRING, "What went wrong."),
        "temporary": (_BOOLEAN, "Retrying may succeed."),
        "timeout": (_BOOLEAN, "The error is a timeout."),
        "fault": (_BOOLEAN, "The server is at fault."),
        "field": (_STRING, "The field the error is about."),
    }, ["name", "id", "message", "temporary", "timeout", "fault"]),
    location=_BUILTIN,
    identifier="application/vnd.goa.error",
)

#: `Empty`: no value at all. `Payload(Empty)` and `Result(Empty)` declare none; `Body(Empty)`
#: in a response sends no body.
EMPTY = UserTypeExpr(name="Empty", attribute=AttributeExpr("Empty", ObjectExpr(), _BUILTIN),
                     location=_BUILTIN)
