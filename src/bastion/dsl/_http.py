"""The DSL's HTTP mapping: routes, parameters, headers, cookies, body, responses, statuses.

Also `Files` (static files a service serves), `MapParams`, response cookies and their
attributes, and `Tag` (which of several responses a result gets).
"""

from __future__ import annotations

import os
from typing import Any as _Any

from bastion.dsl._grpc import GRPCExpr, grpc_response
from bastion.dsl._state import _Block, _fail, _Group, _need, _state
from bastion.dsl.expr import (
    EMPTY,
    APIExpr,
    DataType,
    FileServerExpr,
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


def _owner_of(http: object) -> object:
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
    owner = _owner_of(_state.stack[-1])
    if not isinstance(owner, APIExpr | ServiceExpr):
        raise _fail(where, "Path must be called inside the HTTP block of an API or Service")
    if not prefix.startswith("/"):
        raise _fail(where, f"Path {prefix!r} must start with '/'")
    owner.path_prefix = prefix.rstrip("/")


def _split_mapping(mapping: str) -> tuple[str, str]:
    attr, _, wire = mapping.partition(":")
    return attr.strip(), (wire or attr).strip()


_GROUPED = {"Param": "Params", "Header": "Headers"}


def _map(
    fn: str,
    table: str,
    mapping: str,
    type: DataType | str | None = None,
    description: str | None = None,
    validations: dict[str, _Any] | None = None,
) -> None:
    where = Location.here()
    top = _need(
        (HTTPMethodExpr, HTTPResponseExpr, _Group), fn, where,
        "HTTP of a Method, a Params or Headers block, or a Response block",
    )
    if not isinstance(mapping, str):
        raise _fail(where, f"{fn} needs a mapping such as {fn}('attr:name'), not {mapping!r}")
    attr, wire = _split_mapping(mapping)
    if not attr:
        raise _fail(where, f"{fn}({mapping!r}) names no attribute")
    declares = type is not None or description is not None or bool(validations)
    if isinstance(top, HTTPResponseExpr):
        if table == "params":
            raise _fail(where, f"{fn} cannot be used in a Response block; use Header, Cookie "
                        "or Body")
        if declares:
            raise _fail(where, f"{fn} in a Response block maps a result attribute: declare its "
                        "type and validations in the Result")
        if attr in top.mapped_at:
            raise _fail(where, f"attribute {attr!r} is mapped twice in this Response (first "
                        f"at {top.mapped_at[attr]})")
        getattr(top, table)[attr] = wire
        top.mapped_at[attr] = where
        return
    if isinstance(top, _Group):
        if _GROUPED.get(fn) != top.kind:
            raise _fail(where, f"{fn} cannot be used in a {top.kind} block")
        http = top.http
    else:
        http = top
        if not isinstance(_owner_of(http), MethodExpr):
            raise _fail(where, f"{fn} must be called inside the HTTP block of a Method")
    if attr in http.mapped_at:
        raise _fail(where, f"attribute {attr!r} is mapped twice (first at {http.mapped_at[attr]})")
    getattr(http, table)[attr] = wire
    http.mapped_at[attr] = where
    if declares:
        from bastion.dsl._build import _attribute

        http.declared[attr] = _attribute(attr, type, description, where, validations or {})


def Param(
    mapping: str, type: DataType | str | None = None, description: str | None = None,
    **validations: _Any,
) -> None:
    """Read attribute from a query parameter: `Param("page")` or `Param("attr:name")`.

    A type, description or validations (`Param("page", Int, minimum=1)`) refine the
    payload attribute for HTTP requests: its type must be the attribute's, and the
    validations given here replace the attribute's own of the same name.
    """
    _map("Param", "params", mapping, type, description, validations)


def Header(
    mapping: str, type: DataType | str | None = None, description: str | None = None,
    **validations: _Any,
) -> None:
    """Read (or in a Response, write) an attribute as a header: `Header("attr:X-Name")`.

    In a method's HTTP block it may refine the attribute as `Param` does.
    """
    _map("Header", "headers", mapping, type, description, validations)


def Cookie(
    mapping: str, type: DataType | str | None = None, description: str | None = None,
    **validations: _Any,
) -> None:
    """Read an attribute from a cookie (`Cookie("attr:name")`), or in a Response write one.

    In a Response, `CookieMaxAge`, `CookieDomain`, `CookiePath`, `CookieSecure`,
    `CookieHTTPOnly` and `CookieSameSite` set the attributes of its cookies.
    """
    _map("Cookie", "cookies", mapping, type, description, validations)


def Params() -> _Block[_Group]:
    """Group the method's query parameters: `with Params(): Param(...); Required(...)`.

    `Required` inside makes a parameter required in HTTP requests.
    """
    return _group("Params")


def Headers() -> _Block[_Group]:
    """Group the method's request headers: `with Headers(): Header(...); Required(...)`."""
    return _group("Headers")


def _group(kind: str) -> _Block[_Group]:
    where = Location.here()
    http = _need((HTTPMethodExpr,), kind, where, "the HTTP block of a Method")
    if not isinstance(_owner_of(http), MethodExpr):
        raise _fail(where, f"{kind} must be called inside the HTTP block of a Method")
    return _Block(_Group(http, kind))


def MapParams(attr: str | None = None) -> None:
    """Read the query string into a map: the whole payload (`MapParams()`), or one attribute.

    The payload (or the attribute) must be a `MapOf(K, V)` of primitives (or arrays of
    them). Keys mapped to other parameters are left out of an attribute's map.
    """
    where = Location.here()
    http = _need((HTTPMethodExpr,), "MapParams", where, "the HTTP block of a Method")
    if not isinstance(_owner_of(http), MethodExpr):
        raise _fail(where, "MapParams must be called inside the HTTP block of a Method")
    if http.map_params is not None:
        raise _fail(where, f"MapParams is declared twice (first at {http.map_params_at})")
    http.map_params = attr or ""
    http.map_params_at = where


def Body(attr: str | object | None = None) -> None:
    """Read the request body into one attribute (or, in a Response, write one as the body).

    Without `Body`, the body is the payload's attributes not mapped elsewhere. In a
    Response, `Body(Empty)` sends no body at all.
    """
    where = Location.here()
    top = _need((HTTPMethodExpr, HTTPResponseExpr), "Body", where, "HTTP of a Method or Response")
    if top.body_set:
        raise _fail(where, "Body is declared twice")
    if getattr(attr, "expr", attr) is EMPTY:
        if not isinstance(top, HTTPResponseExpr):
            raise _fail(where, "Body(Empty) applies to a Response: a request body is read "
                        "only when the payload has attributes left for it")
        top.body_empty = True
        top.body_set = True
        return
    if attr is not None and not isinstance(attr, str):
        raise _fail(where, f"Body names an attribute (or is Body(Empty)), not {attr!r}")
    top.body = attr
    top.body_set = True
    if isinstance(top, HTTPMethodExpr):
        top.body_location = where


def Response(code: int | str, status: int | None = None) -> _Block[HTTPResponseExpr]:
    """Map the result to a status (`Response(StatusCreated)`) or an error to one.

    `Response("not_found", StatusNotFound)` maps a design error; it may be used in the
    HTTP block of an API, a service or a method. Either opens a block: `Header`,
    `Cookie`, `Body`, `Tag` and `Description` say how the answer is written. A method
    may have several result Responses when all but one carry a `Tag`.
    """
    where = Location.here()
    if _state.stack and isinstance(_state.stack[-1], GRPCExpr):
        # The same DSL name, in a GRPC block.
        return grpc_response(code, status, where)  # type: ignore[return-value]
    http = _need((HTTPMethodExpr,), "Response", where, "HTTP or GRPC")
    if isinstance(code, str):
        if status is None:
            raise _fail(where, f"Response({code!r}) needs a status: Response({code!r}, 404)")
        # A second mapping of one error needs a Tag, set inside its block: finalize checks.
        response = HTTPResponseExpr(status=_status(status, where), location=where)
        http.errors.append(HTTPErrorExpr(code, response.status, where, response))
        return _Block(response)
    if not isinstance(_owner_of(http), MethodExpr):
        raise _fail(where, "a result Response must be declared in the HTTP block of a Method")
    response = HTTPResponseExpr(status=_status(code, where), location=where)
    # Which one is the default is known once the blocks ran (a Tag is set inside one):
    # finalize sorts them and refuses two without a Tag.
    if http.response is None:
        http.response = response
    else:
        http.tagged.append(response)
    return _Block(response)


def Tag(name: str, value: str) -> None:
    """Use the enclosing Response for results whose attribute `name` equals `value`."""
    where = Location.here()
    response = _need((HTTPResponseExpr,), "Tag", where, "a Response block")
    if response.tag is not None:
        raise _fail(where, f"Tag is set twice on this Response (first at {response.tag_location})")
    if not isinstance(name, str) or not name or not isinstance(value, str):
        raise _fail(where, f"Tag needs an attribute name and a string value, not {name!r}, "
                    f"{value!r}")
    response.tag = (name, value)
    response.tag_location = where


def _cookie_attribute(fn: str, key: str, value: str) -> None:
    where = Location.here()
    response = _need((HTTPResponseExpr,), fn, where, "a Response block")
    response.cookie_attributes[key] = value


def CookieMaxAge(seconds: int) -> None:
    """Set the `Max-Age` of the enclosing Response's cookies."""
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise _fail(Location.here(), f"CookieMaxAge needs a number of seconds, not {seconds!r}")
    _cookie_attribute("CookieMaxAge", "max-age", str(seconds))


def CookieDomain(domain: str) -> None:
    """Set the `Domain` of the enclosing Response's cookies."""
    _cookie_attribute("CookieDomain", "domain", domain)


def CookiePath(path: str) -> None:
    """Set the `Path` of the enclosing Response's cookies."""
    _cookie_attribute("CookiePath", "path", path)


def CookieSecure() -> None:
    """Mark the enclosing Response's cookies `Secure`."""
    _cookie_attribute("CookieSecure", "secure", "Secure")


def CookieHTTPOnly() -> None:
    """Mark the enclosing Response's cookies `HttpOnly`."""
    _cookie_attribute("CookieHTTPOnly", "http-only", "HttpOnly")


CookieSameSiteStrict = "strict"
CookieSameSiteLax = "lax"
CookieSameSiteNone = "none"
CookieSameSiteDefault = "default"  # no SameSite attribute, as Go writes it


def CookieSameSite(mode: str) -> None:
    """Set the `SameSite` of the enclosing Response's cookies (`CookieSameSiteStrict`...)."""
    if mode not in (CookieSameSiteStrict, CookieSameSiteLax, CookieSameSiteNone,
                    CookieSameSiteDefault):
        raise _fail(Location.here(), f"CookieSameSite needs CookieSameSiteStrict, "
                    f"CookieSameSiteLax, CookieSameSiteNone or CookieSameSiteDefault, not "
                    f"{mode!r}")
    _cookie_attribute("CookieSameSite", "same-site", mode)


def Files(path: str, filename: str, description: str | None = None) -> _Block[FileServerExpr]:
    """Serve files from disk at `path`: one file, or a folder under a `{*wildcard}`.

    `Files("/openapi.json", "gen/openapi.json")`, `Files("/static/{*path}", "public/")`.
    A relative `filename` is relative to the folder of the file that declares it. The
    service's and API's path prefixes apply. Requests never reach outside the folder
    (`..`, encoded or not, and symlinks leading out are refused); `ETag`,
    `Last-Modified`, conditional requests and single byte ranges are answered.
    """
    where = Location.here()
    svc = _need((ServiceExpr,), "Files", where, "Service")
    if not isinstance(path, str) or not isinstance(filename, str) or not filename:
        raise _fail(where, f"Files needs a request path and a file name, not {path!r}, "
                    f"{filename!r}")
    if not path.startswith("/"):
        path = "/" + path  # as Goa does
    root = filename if os.path.isabs(filename) else os.path.join(
        os.path.dirname(os.path.abspath(where.file)), filename)
    files = FileServerExpr(path=path, filename=filename, location=where,
                           description=description, root=os.path.normpath(root))
    svc.files.append(files)
    return _Block(files)


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
