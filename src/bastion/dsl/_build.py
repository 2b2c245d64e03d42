"""The DSL functions: each records an expression where the user's `with` blocks put it.

The one piece of global state is the design being built (as Goa's root): `API(...)`
starts a new design, and types, schemes and services declared after it attach to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import TracebackType
from typing import Any as _Any
from typing import Generic, TypeVar

from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    ErrorExpr,
    FlowExpr,
    HTTPErrorExpr,
    HTTPMethodExpr,
    HTTPResponseExpr,
    Location,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    Primitive,
    RateLimitExpr,
    RequirementExpr,
    RouteExpr,
    SchemeExpr,
    ServiceExpr,
    TypeRef,
    UserTypeExpr,
)
from bastion.errors import DesignError

E = TypeVar("E")

# ---------------------------------------------------------------------------- primitives

Boolean = Primitive("Boolean", "boolean")
Int = Primitive("Int", "integer", -(2**63), 2**63 - 1, "int64")
Int32 = Primitive("Int32", "integer", -(2**31), 2**31 - 1, "int32")
Int64 = Primitive("Int64", "integer", -(2**63), 2**63 - 1, "int64")
UInt = Primitive("UInt", "integer", 0, 2**64 - 1, "uint64")
UInt32 = Primitive("UInt32", "integer", 0, 2**32 - 1, "uint32")
UInt64 = Primitive("UInt64", "integer", 0, 2**64 - 1, "uint64")
Float32 = Primitive("Float32", "number", json_format="float")
Float64 = Primitive("Float64", "number", json_format="double")
String = Primitive("String", "string")
Bytes = Primitive("Bytes", "bytes", json_format="byte")
Any: Primitive = Primitive("Any", "any")  # the design type; typing.Any is `_Any` here

# Formats, by their JSON Schema names; the short names read like Goa's FormatX constants.
FormatUUID = UUID = "uuid"
FormatEmail = Email = "email"
FormatDate = Date = "date"
FormatDateTime = DateTime = "date-time"
FormatURI = URI = "uri"
FormatIPv4 = IPv4 = "ipv4"
FormatIPv6 = IPv6 = "ipv6"
FormatIP = IP = "ip"
FormatHostname = Hostname = "hostname"
FormatRegexp = Regexp = "regexp"
FORMATS = frozenset({UUID, Email, Date, DateTime, URI, IPv4, IPv6, IP, Hostname, Regexp})

# ---------------------------------------------------------------------------- state


class _State:
    """The design being built and the `with` blocks open right now."""

    def __init__(self) -> None:
        self.design: APIExpr | None = None
        self.stack: list[object] = []
        self.pending_schemes: list[SchemeExpr] = []


_state = _State()


def current_design() -> APIExpr | None:
    """Return the design the DSL is building, if any."""
    return _state.design


class _Block(Generic[E]):
    """What a DSL function returns: the expression, usable as a `with` block."""

    __slots__ = ("_expr", "_on_enter")

    def __init__(self, expr: E, on_enter: _Any = None) -> None:
        self._expr = expr
        self._on_enter = on_enter

    @property
    def expr(self) -> E:
        """The expression this call recorded."""
        return self._expr

    def __enter__(self) -> E:
        pushed = self._on_enter() if self._on_enter is not None else self._expr
        _state.stack.append(pushed)
        return self._expr

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _state.stack.pop()


def _fail(where: Location, message: str) -> DesignError:
    return DesignError(f"{where}: {message}")


def _top() -> object | None:
    return _state.stack[-1] if _state.stack else None


def _need(kinds: tuple[type, ...], fn: str, where: Location, places: str) -> _Any:
    top = _top()
    if not isinstance(top, kinds):
        raise _fail(where, f"{fn} must be called inside {places}")
    return top


def _design(fn: str, where: Location) -> APIExpr:
    if _state.design is None:
        raise _fail(where, f"{fn} needs an API: declare `with API(name):` first")
    return _state.design


# ---------------------------------------------------------------------------- API


def API(name: str) -> _Block[APIExpr]:
    """Start a new design named `name`; use as `with API("orders") as api:`."""
    where = Location.here()
    if _state.stack:
        raise _fail(where, "API must be declared at the top level, not inside another block")
    api = APIExpr(name=name, location=where)
    _state.design = api
    kept = []
    for scheme in _state.pending_schemes:
        if scheme.location.file == where.file:
            api.schemes.setdefault(scheme.name, scheme)
        else:
            kept.append(scheme)
    _state.pending_schemes[:] = kept
    return _Block(api)


def Title(title: str) -> None:
    """Set the API's title (OpenAPI `info.title`)."""
    api = _need((APIExpr,), "Title", Location.here(), "API")
    api.title = title


def Version(version: str) -> None:
    """Set the API's version (OpenAPI `info.version`)."""
    api = _need((APIExpr,), "Version", Location.here(), "API")
    api.version = version


def Server(url: str, description: str | None = None) -> None:
    """Add a server URL to the API (OpenAPI `servers`)."""
    api = _need((APIExpr,), "Server", Location.here(), "API")
    api.servers.append((url, description))


def Description(text: str) -> None:
    """Describe the enclosing API, service, method, type, attribute or error."""
    top = _need(
        (APIExpr, ServiceExpr, MethodExpr, UserTypeExpr, AttributeExpr, ErrorExpr),
        "Description",
        Location.here(),
        "API, Service, Method, Type, Attribute or Error",
    )
    top.description = text


# ---------------------------------------------------------------------------- types


def Type(name: str, description: str | None = None) -> _Block[UserTypeExpr]:
    """Declare a named object type; use as `with Type("Order") as Order:`."""
    where = Location.here()
    api = _design("Type", where)
    if _state.stack and not isinstance(_top(), APIExpr):
        raise _fail(where, f"Type {name!r} must be declared at the top level")
    if name in api.types:
        raise _fail(where, f"type {name!r} is declared twice (first at {api.types[name].location})")
    attr = AttributeExpr(name=name, type=ObjectExpr(), location=where, description=description)
    ut = UserTypeExpr(name=name, attribute=attr, location=where)
    api.types[name] = ut
    return _Block(ut, on_enter=lambda: ut.attribute)


def _as_type(t: DataType | str | None, where: Location) -> DataType | None:
    if t is None or isinstance(t, DataType):
        return t
    if isinstance(t, str):
        return TypeRef(name=t, location=where)
    raise _fail(where, f"{t!r} is not a type: use a primitive, a Type, ArrayOf, MapOf or a name")


def _attribute(
    name: str,
    type: DataType | str | None,
    description: str | None,
    where: Location,
    options: dict[str, _Any],
) -> AttributeExpr:
    if not isinstance(name, str) or not name:
        raise _fail(where, f"attribute name must be a non-empty string, not {name!r}")
    unknown = set(options) - _VALIDATIONS
    if unknown:
        raise _fail(where, f"attribute {name!r}: unknown option(s) {', '.join(sorted(unknown))}")
    attr = AttributeExpr(
        name=name, type=_as_type(type, where), location=where, description=description
    )
    for key, value in options.items():
        if key == "default":
            attr.default = value
            attr.has_default = True
        elif key == "enum":
            attr.enum = tuple(value)
        else:
            setattr(attr, key, value)
    return attr


_VALIDATIONS = frozenset(
    {
        "default",
        "example",
        "enum",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "exclusive_minimum",
        "exclusive_maximum",
        "min_length",
        "max_length",
    }
)


def _object_parent(fn: str, where: Location) -> ObjectExpr:
    top = _top()
    if isinstance(top, AttributeExpr):
        if top.type is None:
            top.type = ObjectExpr()
        if isinstance(top.type, ObjectExpr):
            return top.type
        raise _fail(
            where,
            f"{fn} inside attribute {top.name!r} of type {top.type_name()}: "
            "only object attributes hold attributes",
        )
    raise _fail(where, f"{fn} must be called inside Type, Payload, Result or an object Attribute")


def _add(obj: ObjectExpr, attr: AttributeExpr) -> AttributeExpr:
    if attr.name in obj.attributes:
        first = obj.attributes[attr.name].location
        raise _fail(attr.location, f"attribute {attr.name!r} is declared twice (first at {first})")
    obj.attributes[attr.name] = attr
    return attr


def Attribute(
    name: str,
    type: DataType | str | None = None,
    description: str | None = None,
    **validations: _Any,
) -> _Block[AttributeExpr]:
    """Declare an attribute of the enclosing object, with its type and validations.

    Validations: default, example, enum, format, pattern, minimum, maximum,
    exclusive_minimum, exclusive_maximum, min_length, max_length. With no type, a
    `with Attribute(name):` block declares an inline object.
    """
    where = Location.here()
    obj = _object_parent("Attribute", where)
    attr = _add(obj, _attribute(name, type, description, where, validations))
    return _Block(attr)


Field = Attribute


def Required(*names: str) -> None:
    """Mark attributes of the enclosing object as required."""
    where = Location.here()
    obj = _object_parent("Required", where)
    for n in names:
        if n not in obj.required:
            obj.required.append(n)
            obj.required_at[n] = where


def ArrayOf(elem: DataType | str, **validations: _Any) -> ArrayExpr:
    """An array of `elem`; keyword validations apply to each element."""
    where = Location.here()
    return ArrayExpr(elem=_attribute("elem", elem, None, where, validations))


def MapOf(key: DataType | str, elem: DataType | str, **validations: _Any) -> MapExpr:
    """A map from `key` (String or an integer type) to `elem`."""
    where = Location.here()
    return MapExpr(
        key=_attribute("key", key, None, where, {}),
        elem=_attribute("elem", elem, None, where, validations),
    )


# ---------------------------------------------------------------------------- credentials


def _credential(
    fn: str,
    kind: str,
    name: str,
    type: DataType | str | None,
    scheme: str | None,
    description: str | None,
    validations: dict[str, _Any],
) -> _Block[AttributeExpr]:
    where = Location.here()
    obj = _object_parent(fn, where)
    attr = _attribute(name, type if type is not None else String, description, where, validations)
    attr.credential = kind  # type: ignore[assignment]
    attr.credential_scheme = scheme
    return _Block(_add(obj, attr))


def Username(
    name: str, type: DataType | str | None = None, description: str | None = None, **v: _Any
) -> _Block[AttributeExpr]:
    """Declare the payload attribute holding the Basic auth username."""
    return _credential("Username", "username", name, type, None, description, v)


def Password(
    name: str, type: DataType | str | None = None, description: str | None = None, **v: _Any
) -> _Block[AttributeExpr]:
    """Declare the payload attribute holding the Basic auth password."""
    return _credential("Password", "password", name, type, None, description, v)


def APIKey(
    scheme: str,
    name: str,
    type: DataType | str | None = None,
    description: str | None = None,
    **v: _Any,
) -> _Block[AttributeExpr]:
    """Declare the payload attribute holding the API key of scheme `scheme`."""
    return _credential("APIKey", "apikey", name, type, scheme, description, v)


def Token(
    name: str, type: DataType | str | None = None, description: str | None = None, **v: _Any
) -> _Block[AttributeExpr]:
    """Declare the payload attribute holding a JWT (bearer token)."""
    return _credential("Token", "token", name, type, None, description, v)


def AccessToken(
    name: str, type: DataType | str | None = None, description: str | None = None, **v: _Any
) -> _Block[AttributeExpr]:
    """Declare the payload attribute holding an OAuth2 access token."""
    return _credential("AccessToken", "accesstoken", name, type, None, description, v)


# ---------------------------------------------------------------------------- services


def Service(name: str, description: str | None = None) -> _Block[ServiceExpr]:
    """Declare a service of the current API; use as `with Service("orders"):`."""
    where = Location.here()
    api = _design("Service", where)
    if _state.stack and not isinstance(_top(), APIExpr):
        raise _fail(where, f"Service {name!r} must be declared at the top level")
    if name in api.services:
        first = api.services[name].location
        raise _fail(where, f"service {name!r} is declared twice (first at {first})")
    svc = ServiceExpr(name=name, api=api, location=where, description=description)
    api.services[name] = svc
    return _Block(svc)


def Method(name: str, description: str | None = None) -> _Block[MethodExpr]:
    """Declare a method of the enclosing service; use as `with Method("create"):`."""
    where = Location.here()
    svc = _need((ServiceExpr,), "Method", where, "Service")
    if name in svc.methods:
        first = svc.methods[name].location
        raise _fail(where, f"method {name!r} of service {svc.name!r} is declared twice "
                    f"(first at {first})")
    m = MethodExpr(name=name, service=svc, location=where, description=description)
    svc.methods[name] = m
    return _Block(m)


def _data(fn: str, type: DataType | str | None, description: str | None) -> _Block[AttributeExpr]:
    where = Location.here()
    m = _need((MethodExpr,), fn, where, "Method")
    if getattr(m, fn.lower()) is not None:
        raise _fail(where, f"{m.qualified}: {fn} is declared twice")
    attr = AttributeExpr(
        name=fn.lower(), type=_as_type(type, where), location=where, description=description
    )
    setattr(m, fn.lower(), attr)
    return _Block(attr)


def Payload(type: DataType | str | None = None, description: str | None = None) -> _Block[
    AttributeExpr
]:
    """Declare the method's payload: a type, or an inline object in a `with` block."""
    return _data("Payload", type, description)


def Result(type: DataType | str | None = None, description: str | None = None) -> _Block[
    AttributeExpr
]:
    """Declare the method's result: a type, or an inline object in a `with` block."""
    return _data("Result", type, description)


def Error(
    name: str,
    type: DataType | str | None = None,
    description: str | None = None,
    *,
    temporary: bool = False,
    timeout: bool = False,
    fault: bool = False,
) -> _Block[ErrorExpr]:
    """Declare a design error at API, service or method level, with Goa's flags."""
    where = Location.here()
    top = _need((APIExpr, ServiceExpr, MethodExpr), "Error", where, "API, Service or Method")
    for e in top.errors:
        if e.name == name:
            raise _fail(where, f"error {name!r} is declared twice (first at {e.location})")
    err = ErrorExpr(
        name=name,
        location=where,
        type=_as_type(type, where),
        description=description,
        temporary=temporary,
        timeout=timeout,
        fault=fault,
    )
    top.errors.append(err)
    return _Block(err)


# ---------------------------------------------------------------------------- security


def _scheme(
    name: str,
    kind: str,
    description: str | None,
    scopes: dict[str, str] | None,
    flows: Iterable[FlowExpr] = (),
) -> SchemeExpr:
    where = Location.here()
    scheme = SchemeExpr(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        location=where,
        description=description,
        scopes=dict(scopes or {}),
        flows=list(flows),
    )
    design = _state.design
    if design is not None and (_state.stack or design.location.file == where.file):
        # Inside the API block, or after it in the same design file: it is this design's.
        design.schemes.setdefault(name, scheme)
    else:
        # Declared before any API (often in a module of its own): the next API declared in
        # the same file adopts it; any design that uses it by object gets it then.
        _state.pending_schemes.append(scheme)
    return scheme


def BasicAuthSecurity(name: str, description: str | None = None) -> SchemeExpr:
    """Declare an HTTP Basic auth scheme."""
    return _scheme(name, "basic", description, None)


def APIKeySecurity(
    name: str, description: str | None = None, *, rate_limit: str | None = None
) -> SchemeExpr:
    """Declare an API key scheme; `rate_limit` ("100/minute") limits requests per key."""
    scheme = _scheme(name, "apikey", description, None)
    if rate_limit is not None:
        if not _RATE.match(rate_limit.strip()):
            raise _fail(scheme.location, f"rate limit {rate_limit!r} must read like '100/minute'")
        scheme.rate_limit = rate_limit.strip()
    return scheme


def JWTSecurity(
    name: str, description: str | None = None, scopes: dict[str, str] | None = None
) -> SchemeExpr:
    """Declare a JWT bearer scheme with the scopes it may grant."""
    return _scheme(name, "jwt", description, scopes)


def OAuth2Security(
    name: str,
    description: str | None = None,
    flows: Iterable[FlowExpr] = (),
    scopes: dict[str, str] | None = None,
) -> SchemeExpr:
    """Declare an OAuth2 scheme with its flows and scopes."""
    return _scheme(name, "oauth2", description, scopes, flows)


def AuthorizationCodeFlow(authorize_url: str, token_url: str, refresh_url: str | None = None) -> (
    FlowExpr
):
    """An OAuth2 authorization code flow."""
    return FlowExpr("authorization_code", authorize_url, token_url, refresh_url)


def ImplicitFlow(authorize_url: str, refresh_url: str | None = None) -> FlowExpr:
    """An OAuth2 implicit flow."""
    return FlowExpr("implicit", authorize_url, None, refresh_url)


def PasswordFlow(token_url: str, refresh_url: str | None = None) -> FlowExpr:
    """An OAuth2 resource owner password flow."""
    return FlowExpr("password", None, token_url, refresh_url)


def ClientCredentialsFlow(token_url: str, refresh_url: str | None = None) -> FlowExpr:
    """An OAuth2 client credentials flow."""
    return FlowExpr("client_credentials", None, token_url, refresh_url)


def Security(*schemes: SchemeExpr | str, scopes: Iterable[str] = ()) -> None:
    """Require all of `schemes` (with `scopes`) on the enclosing API, service or method.

    Several `Security` calls at one level are alternatives: any one passing is enough.
    """
    where = Location.here()
    top = _need((APIExpr, ServiceExpr, MethodExpr), "Security", where, "API, Service or Method")
    if not schemes:
        raise _fail(where, "Security needs at least one scheme")
    top.requirements.append(RequirementExpr(list(schemes), list(scopes), where))


def NoSecurity() -> None:
    """Make the enclosing method public, whatever the API or service requires."""
    where = Location.here()
    m = _need((MethodExpr,), "NoSecurity", where, "Method")
    m.no_security = where


def RateLimit(limit: str) -> None:
    """Limit requests to the enclosing method (or service), e.g. `RateLimit("100/minute")`.

    Counted per API key when the method is secured by one, else per client address.
    """
    where = Location.here()
    top = _need((ServiceExpr, MethodExpr), "RateLimit", where, "Service or Method")
    if not _RATE.match(limit.strip()):
        raise _fail(where, f"rate limit {limit!r} must read like '100/minute' or '10 per second'")
    top.rate_limit = RateLimitExpr(limit.strip(), where)


_RATE = re.compile(
    r"^\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day|month|year)s?$", re.IGNORECASE
)


# ---------------------------------------------------------------------------- HTTP


def HTTP() -> _Block[HTTPMethodExpr]:
    """Open the HTTP mapping of the enclosing API, service or method."""
    where = Location.here()
    top = _need((APIExpr, ServiceExpr, MethodExpr), "HTTP", where, "API, Service or Method")
    if top.http is None:
        top.http = HTTPMethodExpr(location=where)
    return _Block(top.http)


def _owner_of(http: HTTPMethodExpr) -> object:
    for item in reversed(_state.stack[:-1]):
        if isinstance(item, APIExpr | ServiceExpr | MethodExpr):
            return item
    return None  # pragma: no cover


def _route(verb: str, path: str) -> None:
    where = Location.here()
    http = _need((HTTPMethodExpr,), verb, where, "HTTP of a Method")
    if not isinstance(_owner_of(http), MethodExpr):
        raise _fail(where, f"{verb} must be called inside the HTTP block of a Method")
    if not path.startswith("/"):
        raise _fail(where, f"{verb} path {path!r} must start with '/'")
    http.routes.append(RouteExpr(verb=verb, path=path, location=where))


def GET(path: str) -> None:
    """Map the method to `GET path`."""
    _route("GET", path)


def POST(path: str) -> None:
    """Map the method to `POST path`."""
    _route("POST", path)


def PUT(path: str) -> None:
    """Map the method to `PUT path`."""
    _route("PUT", path)


def PATCH(path: str) -> None:
    """Map the method to `PATCH path`."""
    _route("PATCH", path)


def DELETE(path: str) -> None:
    """Map the method to `DELETE path`."""
    _route("DELETE", path)


def HEAD(path: str) -> None:
    """Map the method to `HEAD path`."""
    _route("HEAD", path)


def OPTIONS(path: str) -> None:
    """Map the method to `OPTIONS path`."""
    _route("OPTIONS", path)


def Path(prefix: str) -> None:
    """Prefix every route of the enclosing service (or API) with `prefix`."""
    where = Location.here()
    _need((HTTPMethodExpr,), "Path", where, "HTTP of an API or Service")
    owner = _owner_of(_state.stack[-1])  # type: ignore[arg-type]
    if not isinstance(owner, APIExpr | ServiceExpr):
        raise _fail(where, "Path must be called inside the HTTP block of an API or Service")
    if not prefix.startswith("/"):
        raise _fail(where, f"Path {prefix!r} must start with '/'")
    owner.path_prefix = prefix.rstrip("/")


def _split_mapping(mapping: str) -> tuple[str, str]:
    attr, _, wire = mapping.partition(":")
    return attr.strip(), (wire or attr).strip()


def _map(fn: str, table: str, mapping: str) -> None:
    where = Location.here()
    top = _need(
        (HTTPMethodExpr, HTTPResponseExpr), fn, where, "HTTP of a Method, or a Response block"
    )
    attr, wire = _split_mapping(mapping)
    if not attr:
        raise _fail(where, f"{fn}({mapping!r}) names no attribute")
    if isinstance(top, HTTPResponseExpr):
        if table != "headers":
            raise _fail(where, f"{fn} cannot be used in a Response block; use Header or Body")
        top.headers[attr] = wire
        return
    if not isinstance(_owner_of(top), MethodExpr):
        raise _fail(where, f"{fn} must be called inside the HTTP block of a Method")
    if attr in top.mapped_at:
        raise _fail(where, f"attribute {attr!r} is mapped twice (first at {top.mapped_at[attr]})")
    getattr(top, table)[attr] = wire
    top.mapped_at[attr] = where


def Param(mapping: str) -> None:
    """Read attribute from a query parameter: `Param("page")` or `Param("attr:name")`."""
    _map("Param", "params", mapping)


def Header(mapping: str) -> None:
    """Read (or in a Response, write) an attribute as a header: `Header("attr:X-Name")`."""
    _map("Header", "headers", mapping)


def Cookie(mapping: str) -> None:
    """Read an attribute from a cookie: `Cookie("attr:name")`."""
    _map("Cookie", "cookies", mapping)


def Body(attr: str | None = None) -> None:
    """Read the request body into one attribute (or, in a Response, write one as the body).

    Without `Body`, the body is the payload's attributes not mapped elsewhere.
    """
    where = Location.here()
    top = _need((HTTPMethodExpr, HTTPResponseExpr), "Body", where, "HTTP of a Method or Response")
    if top.body_set:
        raise _fail(where, "Body is declared twice")
    top.body = attr
    top.body_set = True
    if isinstance(top, HTTPMethodExpr):
        top.body_location = where


def Response(code: int | str, status: int | None = None) -> _Block[HTTPResponseExpr | None]:
    """Map the result to a status (`Response(StatusCreated)`) or an error to one.

    `Response("not_found", StatusNotFound)` maps a design error; it may be used in the
    HTTP block of an API, a service or a method.
    """
    where = Location.here()
    http = _need((HTTPMethodExpr,), "Response", where, "HTTP")
    if isinstance(code, str):
        if status is None:
            raise _fail(where, f"Response({code!r}) needs a status: Response({code!r}, 404)")
        for m in http.errors:
            if m.name == code:
                raise _fail(where, f"error {code!r} is mapped twice (first at {m.location})")
        http.errors.append(HTTPErrorExpr(code, _status(status, where), where))
        return _Block(None)
    if not isinstance(_owner_of(http), MethodExpr):
        raise _fail(where, "a result Response must be declared in the HTTP block of a Method")
    if http.response is not None:
        raise _fail(where, f"the result Response is declared twice (first at "
                    f"{http.response.location})")
    http.response = HTTPResponseExpr(status=_status(code, where), location=where)
    return _Block(http.response)


def _status(code: int, where: Location) -> int:
    if not isinstance(code, int) or not 100 <= code <= 599:
        raise _fail(where, f"{code!r} is not an HTTP status code")
    return code


StatusContinue = 100
StatusOK = 200
StatusCreated = 201
StatusAccepted = 202
StatusNoContent = 204
StatusMovedPermanently = 301
StatusFound = 302
StatusNotModified = 304
StatusBadRequest = 400
StatusUnauthorized = 401
StatusPaymentRequired = 402
StatusForbidden = 403
StatusNotFound = 404
StatusMethodNotAllowed = 405
StatusNotAcceptable = 406
StatusRequestTimeout = 408
StatusConflict = 409
StatusGone = 410
StatusPreconditionFailed = 412
StatusRequestEntityTooLarge = 413
StatusUnsupportedMediaType = 415
StatusUnprocessableEntity = 422
StatusTooManyRequests = 429
StatusInternalServerError = 500
StatusNotImplemented = 501
StatusBadGateway = 502
StatusServiceUnavailable = 503
StatusGatewayTimeout = 504
