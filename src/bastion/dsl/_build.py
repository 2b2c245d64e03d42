"""The DSL functions for the API, types, credentials, services, methods, errors and Meta.

Security schemes and requirements are in `_security.py`, the HTTP mapping in `_http.py`,
result types and their views in `_result.py`, servers and hosts in `_server.py`.
"""

from __future__ import annotations

from typing import Any as _Any

from bastion.dsl._primitives import String
from bastion.dsl._state import (
    _Block,
    _design,
    _fail,
    _Group,
    _need,
    _state,
    _top,
    adopt_schemes,
)
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    ErrorExpr,
    FileServerExpr,
    HostExpr,
    HTTPMethodExpr,
    HTTPResponseExpr,
    Location,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    ResultTypeExpr,
    ServerExpr,
    ServiceExpr,
    TypeRef,
    UnionExpr,
    UserTypeExpr,
    ViewExpr,
)

# ---------------------------------------------------------------------------- API


def API(name: str) -> _Block[APIExpr]:
    """Start a new design named `name`; use as `with API("orders") as api:`."""
    where = Location.here()
    if _state.stack:
        raise _fail(where, "API must be declared at the top level, not inside another block")
    api = APIExpr(name=name, location=where)
    _state.design = api
    adopt_schemes(api)
    return _Block(api)


def Title(title: str) -> None:
    """Set the API's title (OpenAPI `info.title`)."""
    api = _need((APIExpr,), "Title", Location.here(), "API")
    api.title = title


def Version(version: str) -> None:
    """Set the API's version (OpenAPI `info.version`)."""
    api = _need((APIExpr,), "Version", Location.here(), "API")
    api.version = version


def ValidateResults(enabled: bool = True) -> None:
    """Check every result against the design before writing it (the default), or not.

    `ValidateResults(False)` writes results as the methods return them, as Goa does: a
    little faster, but a result the design does not describe reaches the client (a dict
    with extra keys keeps them). Responses that need a result's attributes (headers,
    cookies, views, tags, `Body("attr")`) still read them through the result's type.
    """
    api = _need((APIExpr,), "ValidateResults", Location.here(), "API")
    api.validate_results = bool(enabled)


def Description(text: str) -> None:
    """Describe the enclosing API, service, method, type, attribute, error or response."""
    from bastion.dsl._interceptors import InterceptorExpr

    top = _need(
        (APIExpr, ServiceExpr, MethodExpr, UserTypeExpr, AttributeExpr, ErrorExpr,
         HTTPResponseExpr, FileServerExpr, ServerExpr, HostExpr, InterceptorExpr),
        "Description",
        Location.here(),
        "API, Service, Method, Type, Attribute, Error, Response, Files, Server, Host or "
        "Interceptor",
    )
    if isinstance(top, UserTypeExpr):
        top.attribute.description = text
    else:
        top.description = text


def Meta(key: str, *values: str) -> None:
    """Attach Goa meta `key` (with string `values`) to the enclosing element.

    Keys Bastion reads: `openapi:summary`, `openapi:operationId`, `openapi:generate`,
    `openapi:tag:<name>[:desc|:url|:url:desc]` (OpenAPI), `struct:tag:json` (the
    attribute's name in JSON), `struct:field:name` (its name in Python),
    `struct:error:name` (the attribute naming the error a typed error value is),
    `sensitive` (redacted). Other keys are kept, unread. Values accumulate, as in Goa.
    """
    where = Location.here()
    top = _need(
        (APIExpr, ServiceExpr, MethodExpr, AttributeExpr, UserTypeExpr, HTTPMethodExpr,
         FileServerExpr, ServerExpr, HostExpr),
        "Meta",
        where,
        "API, Service, Method, Type, Attribute, HTTP, Files, Server or Host",
    )
    if not isinstance(key, str) or not key:
        raise _fail(where, f"Meta key must be a non-empty string, not {key!r}")
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise _fail(where, f"Meta {key!r}: values must be strings, not {bad[0]!r}")
    meta = top.meta
    current = meta.get(key)
    if not isinstance(current, list):
        current = [] if current is None or current is True else [str(current)]
    meta[key] = [*current, *values]


# ---------------------------------------------------------------------------- types


def Type(
    name: str,
    type: DataType | str | None = None,
    description: str | None = None,
    **validations: _Any,
) -> _Block[UserTypeExpr]:
    """Declare a named type: an object (`with Type("Order") as Order:`), or a named
    primitive, array or map with its validations (`UUID = Type("UUID", String,
    format=UUID).expr`).

    A named primitive is used like the type it names: an attribute of type `UUID` is a
    string with the format, plus any validation the attribute adds.
    """
    where = Location.here()
    api = _design("Type", where)
    if _state.stack and not isinstance(_top(), APIExpr):
        raise _fail(where, f"Type {name!r} must be declared at the top level")
    if name in api.types:
        raise _fail(where, f"type {name!r} is declared twice (first at {api.types[name].location})")
    if type is None:
        if validations:
            raise _fail(where, f"type {name!r}: validations need a base type, as in "
                        f"Type({name!r}, String, ...)")
        attr = AttributeExpr(name=name, type=ObjectExpr(), location=where,
                             description=description)
    else:
        attr = _attribute(name, type, description, where, validations)
    ut = UserTypeExpr(name=name, attribute=attr, location=where)
    api.types[name] = ut
    return _Block(ut, on_enter=lambda: ut.attribute)


def _as_type(t: DataType | str | None, where: Location) -> DataType | None:
    if t is None or isinstance(t, DataType):
        return t
    if isinstance(t, str):
        return TypeRef(name=t, location=where)
    raise _fail(where, f"{t!r} is not a type: use a primitive, a Type, ArrayOf, MapOf or a name")


def _as_types(t: DataType | str | None, where: Location) -> DataType | None:
    """Like `_as_type`, for DSL arguments that may be a `_Block` of a type too."""
    expr = getattr(t, "expr", None)
    if isinstance(expr, DataType):
        return expr
    return _as_type(t, where)


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
        name=name, type=_as_types(type, where), location=where, description=description
    )
    for key, value in options.items():
        if key == "default":
            attr.default = value
            attr.has_default = True
        elif key == "enum":
            attr.enum = tuple(value)
        elif key == "meta":
            attr.meta = _meta(name, value, where)
        elif key == "format":
            attr.format = str(value) if value is not None else None
        else:
            setattr(attr, key, value)
    return attr


def _meta(name: str, meta: object, where: Location) -> dict[str, _Any]:
    if not isinstance(meta, dict) or not all(isinstance(k, str) and k for k in meta):
        raise _fail(where, f"attribute {name!r}: meta must be a dict with string keys, "
                    f"not {meta!r}")
    if "sensitive" in meta and not isinstance(meta["sensitive"], bool):
        raise _fail(where, f"attribute {name!r}: meta 'sensitive' must be True or False, "
                    f"not {meta['sensitive']!r}")
    return dict(meta)


_VALIDATIONS = frozenset(
    {
        "default",
        "meta",
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
    if isinstance(top, ResultTypeExpr):
        top = top.attribute
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
    exclusive_minimum, exclusive_maximum, min_length, max_length. `meta` is Goa's Meta, a
    dict of free-form keys: `meta={"sensitive": True}` redacts the attribute's values in
    logs, spans and error bodies. With no type, a `with Attribute(name):` block declares
    an inline object.
    """
    where = Location.here()
    top = _top()
    if isinstance(top, ViewExpr):
        return _view_attribute(top, name, type, description, validations, where)
    if isinstance(top, UnionExpr):
        if type is None:
            raise _fail(where, f"OneOf {top.name!r}: alternative {name!r} needs a type")
        if name in top.alternatives:
            raise _fail(where, f"OneOf {top.name!r}: alternative {name!r} is declared twice")
        alt = _attribute(name, type, description, where, validations)
        top.alternatives[name] = alt
        return _Block(alt)
    obj = _object_parent("Attribute", where)
    attr = _add(obj, _attribute(name, type, description, where, validations))
    return _Block(attr)


def _view_attribute(
    view: ViewExpr, name: str, type: object, description: str | None,
    validations: dict[str, _Any], where: Location,
) -> _Block[AttributeExpr]:
    if type is not None or description is not None or validations:
        raise _fail(where, f"View {view.name!r}: Attribute({name!r}) names an attribute of "
                    "the result type; declare its type and validations in Attributes")
    if name in view.attributes:
        raise _fail(where, f"View {view.name!r}: attribute {name!r} is listed twice")
    attr = AttributeExpr(name=name, type=None, location=where)
    view.attributes[name] = attr
    return _Block(attr)


def OneOf(name: str, description: str | None = None) -> _Block[UnionExpr]:
    """Declare an attribute holding one of several types (Goa's union), in a `with` block.

        with OneOf("pet"):
            Attribute("cat", Cat)
            Attribute("dog", Dog)

    On the wire, as Goa writes it: `{"Type": "cat", "Value": "{\\"name\\": \\"Tom\\"}"}`, the
    value JSON encoded in a string. Methods receive and return a `bastion.OneOfValue`.
    """
    where = Location.here()
    obj = _object_parent("OneOf", where)
    union = UnionExpr(name=name, location=where)
    _add(obj, AttributeExpr(name=name, type=union, location=where, description=description))
    return _Block(union)


def Required(*names: str) -> None:
    """Mark attributes of the enclosing object as required."""
    where = Location.here()
    top = _top()
    if isinstance(top, _Group):
        for n in names:
            top.http.required.setdefault(n, where)
        return
    obj = _object_parent("Required", where)
    for n in names:
        if n not in obj.required:
            obj.required.append(n)
            obj.required_at[n] = where


def Extend(type: DataType | str) -> None:
    """Add every attribute of object type `type` (and its required names) to this object."""
    where = Location.here()
    obj = _object_parent("Extend", where)
    t = _as_types(type, where)
    if t is None:
        raise _fail(where, "Extend needs a type")
    obj.bases.append((t, where))


def Reference(type: DataType | str) -> None:
    """Take the definition of attributes declared here by name from object type `type`.

    An attribute declared with only its name (`Attribute("name")`) gets the referenced
    attribute's type, description, validations and example; one declared with some of
    them keeps its own and takes the rest.
    """
    where = Location.here()
    obj = _object_parent("Reference", where)
    t = _as_types(type, where)
    if t is None:
        raise _fail(where, "Reference needs a type")
    obj.references.append((t, where))


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
        name=fn.lower(), type=_as_types(type, where), location=where, description=description
    )
    setattr(m, fn.lower(), attr)
    return _Block(attr)


def Payload(type: DataType | str | None = None, description: str | None = None) -> _Block[
    AttributeExpr
]:
    """Declare the method's payload: a type, or an inline object in a `with` block."""
    return _data("Payload", type, description)


def Result(
    type: DataType | str | None = None, description: str | None = None, *, view: str | None = None
) -> _Block[AttributeExpr]:
    """Declare the method's result: a type, or an inline object in a `with` block.

    For a result type, `view="tiny"` (or `View("tiny")` in the block) fixes the view the
    result is rendered in; without one, the method picks it (see `bastion.Viewed`).
    """
    block = _data("Result", type, description)
    if view is not None:
        block.expr.view = view
        block.expr.view_location = Location.here()
    return block


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
        type=_as_types(type, where),
        description=description,
        temporary=temporary,
        timeout=timeout,
        fault=fault,
    )
    top.errors.append(err)
    return _Block(err)

