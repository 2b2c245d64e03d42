"""The DSL's HTTP mapping: routes, parameters, headers, cookies, body, responses, statuses."""

from __future__ import annotations

from bastion.dsl._grpc import GRPCExpr, grpc_response
from bastion.dsl._state import _Block, _fail, _need, _state
from bastion.dsl.expr import (
    APIExpr,
    HTTPErrorExpr,
    HTTPMethodExpr,
    HTTPResponseExpr,
    Location,
    MethodExpr,
    RouteExpr,
    ServiceExpr,
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
    HTTP block of an API, a service or a method. In a GRPC block it maps to gRPC codes
    the same way: `Response(CodeOK)`, `Response("not_found", CodeNotFound)`.
    """
    where = Location.here()
    if _state.stack and isinstance(_state.stack[-1], GRPCExpr):
        # The same DSL name, in a GRPC block.
        return grpc_response(code, status, where)  # type: ignore[return-value]
    http = _need((HTTPMethodExpr,), "Response", where, "HTTP or GRPC")
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
