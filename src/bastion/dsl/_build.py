"""The DSL functions for the API, types, credentials, services, methods and errors.

Security schemes and requirements are in `_security.py`, the HTTP mapping in `_http.py`.
"""

from __future__ import annotations

from typing import Any as _Any

from bastion.dsl._primitives import String
from bastion.dsl._state import _Block, _design, _fail, _need, _state, _top
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    ErrorExpr,
    Location,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    ServiceExpr,
    TypeRef,
    UserTypeExpr,
)

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
        elif key == "meta":
            attr.meta = _meta(name, value, where)
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
    obj = _object_parent("Attribute", where)
    attr = _add(obj, _attribute(name, type, description, where, validations))
    return _Block(attr)



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

