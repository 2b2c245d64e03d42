"""The DSL's result types: `ResultType`, `Attributes`, `View`, `CollectionOf`, `TypeName`.

A result type is a user type rendered in views, as in Goa: each view lists the
attributes a response carries, and a nested result type attribute may name the view it
is rendered in. Finalize (`_views.py`) turns each view into a plain type of its own.
"""

from __future__ import annotations

import re

from bastion.dsl._state import _Block, _design, _fail, _need, _state, _top
from bastion.dsl.expr import (
    DEFAULT_VIEW,
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    Location,
    ObjectExpr,
    ResultTypeExpr,
    UserTypeExpr,
    ViewExpr,
)

# type "/" subtype, then optional parameters: RFC 6838 names, loosely. A bare token
# ("Winery") passes too, as Go's mime.ParseMediaType lets Goa's designs use one.
_MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][\w.+-]*(/[A-Za-z0-9][\w.+-]*)?(\s*;\s*[\w.+-]+=[\w.+-]+)*$")


def ResultType(
    identifier: str, type_name: str | None = None, description: str | None = None
) -> _Block[ResultTypeExpr]:
    """Declare a result type: `with ResultType("application/vnd.cellar.bottle") as Bottle:`.

    Inside: `with Attributes():` declares its attributes, `with View("tiny"):` each view
    (a `default` view listing every attribute is added when none is declared),
    `Required`, `Reference`, `TypeName`, `Description`, `Meta`. The type's name is
    `type_name`, else derived from the identifier (`vnd.cellar.bottle` -> `CellarBottle`).
    """
    where = Location.here()
    api = _design("ResultType", where)
    if _state.stack and not isinstance(_top(), APIExpr):
        raise _fail(where, f"ResultType {identifier!r} must be declared at the top level")
    if not isinstance(identifier, str) or not _MEDIA_TYPE.match(identifier.strip()):
        raise _fail(where, f"result type identifier {identifier!r} is not a media type "
                    "such as 'application/vnd.goa.bottle'")
    identifier = identifier.strip()
    for other in api.types.values():
        if isinstance(other, ResultTypeExpr) and other.identifier == identifier:
            raise _fail(where, f"result type {identifier!r} is declared twice (first at "
                        f"{other.location})")
    name = type_name or _name_from(identifier)
    if name in api.types:
        raise _fail(where, f"type {name!r} is declared twice (first at {api.types[name].location})")
    attr = AttributeExpr(name=name, type=ObjectExpr(), location=where, description=description)
    rt = ResultTypeExpr(name=name, attribute=attr, location=where, identifier=identifier)
    api.types[name] = rt
    return _Block(rt)


def _name_from(identifier: str) -> str:
    """Goa's type name for a result type identifier: `vnd.goa.bottle+json` -> `GoaBottle`."""
    last = identifier.split(";", 1)[0].rsplit("/", 1)[-1].split("+", 1)[0]
    last = last.removeprefix("vnd.")
    words = [w for w in re.split(r"[._-]", last) if w]
    return "".join(w[:1].upper() + w[1:] for w in words) or "ResultType"


def Attributes() -> _Block[AttributeExpr]:
    """Open the attributes of the enclosing result type: `with Attributes():`."""
    where = Location.here()
    rt = _need((ResultTypeExpr,), "Attributes", where, "ResultType")
    return _Block(rt.attribute)


def View(name: str) -> _Block[ViewExpr | None]:
    """Declare a view of a result type, or name the view a result is rendered in.

    In a `ResultType`: `with View("tiny"): Attribute("id"); Attribute("name")`. In a
    `Result` block, or in a view's `with Attribute("winery"):`, `View("tiny")` names the
    view of that result type to render.
    """
    where = Location.here()
    top = _top()
    if not isinstance(name, str) or not name:
        raise _fail(where, f"view name must be a non-empty string, not {name!r}")
    if isinstance(top, ResultTypeExpr):
        if top.collection_of is not None:
            raise _fail(where, f"result type {top.name!r} is a collection: its views are "
                        "its element's")
        if name in top.views:
            raise _fail(where, f"view {name!r} of result type {top.name!r} is declared twice "
                        f"(first at {top.views[name].location})")
        view = ViewExpr(name=name, location=where)
        top.views[name] = view
        return _Block(view)
    if isinstance(top, AttributeExpr):
        if top.view is not None and top.view_location is not None:
            raise _fail(where, f"attribute {top.name!r}: View is set twice (first at "
                        f"{top.view_location})")
        top.view = name
        top.view_location = where
        return _Block(None)
    raise _fail(where, "View must be called inside a ResultType (to declare a view), a "
                "Result, or an attribute of a view (to name the view to render)")


def CollectionOf(elem: ResultTypeExpr | str | object, view: str | None = None) -> ResultTypeExpr:
    """A result type for an array of result type `elem`, with `elem`'s views.

    `CollectionOf(Bottle, view="tiny")` renders every element in view `tiny`.
    """
    where = Location.here()
    target = getattr(elem, "expr", elem)
    if isinstance(target, str):
        api = _design("CollectionOf", where)
        found = api.types.get(target)
        if found is None:
            found = next((t for t in api.types.values() if isinstance(t, ResultTypeExpr)
                          and t.identifier == target), None)
        target = found
    if not isinstance(target, ResultTypeExpr) or target.collection_of is not None:
        raise _fail(where, f"CollectionOf needs a result type (declared with ResultType), "
                    f"not {elem!r}")
    key = view or ""
    coll = target.collections.get(key)
    if coll is None:
        name = target.name + ("Collection" if view in (None, DEFAULT_VIEW) else
                              view[:1].upper() + view[1:] + "Collection")
        item = AttributeExpr(name="elem", type=target, location=where, view=view,
                             view_location=where if view else None)
        attr = AttributeExpr(name=name, type=ArrayExpr(elem=item), location=where)
        coll = ResultTypeExpr(name=name, attribute=attr, location=where,
                              identifier=f"{target.identifier}; type=collection",
                              collection_of=target)
        target.collections[key] = coll
    return coll


def TypeName(name: str) -> None:
    """Rename the enclosing Type or ResultType (its schema and Struct names)."""
    where = Location.here()
    top = _top()
    api = _design("TypeName", where)
    ut: UserTypeExpr | None = None
    if isinstance(top, UserTypeExpr):
        ut = top
    elif isinstance(top, AttributeExpr):
        ut = next((t for t in api.types.values() if t.attribute is top), None)
    if ut is None:
        raise _fail(where, "TypeName must be called inside a Type or a ResultType")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise _fail(where, f"TypeName {name!r} must be an identifier")
    if name != ut.name and name in api.types:
        raise _fail(where, f"TypeName {name!r}: type {name!r} is declared already (at "
                    f"{api.types[name].location})")
    old = ut.name
    ut.name = name
    ut.attribute.name = name
    # Keep the declaration order: the document lists types in it.
    renamed = {(name if k == old else k): v for k, v in api.types.items()}
    api.types.clear()
    api.types.update(renamed)
