"""Finalize: result types' views, and each method's result as the views render it.

A view becomes a plain user type of its own (a *projection*): the view's attributes
only, the result type's `Required` names kept where the view has them, and each nested
result type attribute replaced by its own projection in the view the design names
(`default` otherwise). So everything downstream — Structs, validation, OpenAPI — sees
ordinary types, and a result rendered in a view is checked against that view alone.
"""

from __future__ import annotations

import copy

from bastion.dsl._problems import Problems
from bastion.dsl.expr import (
    DEFAULT_VIEW,
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    MethodExpr,
    ObjectExpr,
    ResultTypeExpr,
    UserTypeExpr,
    ViewExpr,
)

__all__ = ["check_views", "project_results"]


def check_views(api: APIExpr, problems: Problems) -> None:
    """Add the implicit `default` views and check every view of every result type."""
    for rt in _result_types(api):
        obj = rt.attribute.type
        if not isinstance(obj, ObjectExpr):
            problems.add(rt.location, f"result type {rt.name!r} must be an object")
            continue
        if DEFAULT_VIEW not in rt.views:
            view = ViewExpr(name=DEFAULT_VIEW, location=rt.location)
            for name in obj.attributes:
                view.attributes[name] = AttributeExpr(name=name, type=None, location=rt.location)
            rt.views = {DEFAULT_VIEW: view, **rt.views}
            rt.meta.setdefault("bastion:view:implicit", True)
        for view in rt.views.values():
            if not view.attributes:
                problems.add(view.location, f"view {view.name!r} of result type {rt.name!r} "
                             "lists no attribute")
            for name, vattr in view.attributes.items():
                base = obj.attributes.get(name)
                if base is None:
                    problems.add(vattr.location, f"view {view.name!r} of result type "
                                 f"{rt.name!r}: {name!r} is not one of its attributes "
                                 f"({', '.join(obj.attributes) or 'none'})")
                    continue
                if vattr.view is not None:
                    _check_view_name(base.type, vattr.view, vattr, f"view {view.name!r} of "
                                     f"result type {rt.name!r}, attribute {name!r}", problems)


def _result_types(api: APIExpr) -> list[ResultTypeExpr]:
    return [t for t in api.types.values() if isinstance(t, ResultTypeExpr)
            and t.collection_of is None]


def _check_view_name(
    t: DataType | None, view: str, at: AttributeExpr, owner: str, problems: Problems
) -> bool:
    rt = t.collection_of if isinstance(t, ResultTypeExpr) and t.collection_of else t
    where = at.view_location or at.location
    if not isinstance(rt, ResultTypeExpr):
        problems.add(where, f"{owner}: View({view!r}) applies to result types only")
        return False
    if view not in rt.views and view != DEFAULT_VIEW:
        problems.add(where, f"{owner}: result type {rt.name!r} has no view {view!r} "
                     f"(views: {', '.join(rt.view_names())})")
        return False
    return True


def project_results(api: APIExpr, problems: Problems) -> None:
    """Render each method's result type in its view(s): `m.result` and `m.result_views`."""
    for m in api.methods():
        result = m.result
        if result is None:
            continue
        t = result.type
        if not isinstance(t, ResultTypeExpr):
            if result.view is not None:
                _check_view_name(t, result.view, result, f"result of {m.qualified}", problems)
            continue
        fixed = result.view
        coll_view = None
        if t.collection_of is not None:
            elem = t.attribute.type.elem if isinstance(t.attribute.type, ArrayExpr) else None
            coll_view = elem.view if elem is not None else None
        if fixed is not None and coll_view is not None and fixed != coll_view:
            problems.add(result.view_location or result.location, f"result of {m.qualified}: "
                         f"View({fixed!r}) conflicts with the collection's view {coll_view!r}")
            continue
        fixed = fixed or coll_view
        if fixed is not None:
            if not _check_view_name(t, fixed, result, f"result of {m.qualified}", problems):
                continue
            result.type = project(t, fixed)
            continue
        names = (t.collection_of or t).view_names()
        result.type = project(t, DEFAULT_VIEW)
        if len(names) > 1:
            for name in names:
                viewed = copy.copy(result)
                viewed.type = project(t, name)
                m.result_views[name] = viewed
            _check_view_attribute(m, names, problems)


def _check_view_attribute(m: MethodExpr, names: list[str], problems: Problems) -> None:
    """A payload attribute `view` picks the view: it must name views only."""
    obj = m.payload.object if m.payload is not None else None
    attr = obj.attributes.get("view") if obj is not None else None
    if attr is None:
        return
    if attr.enum is None or any(v not in names for v in attr.enum):
        problems.add(attr.location, f"{m.qualified}: payload attribute 'view' picks the "
                     f"result's view, so it needs enum= of view names ({', '.join(names)})")


def project(t: ResultTypeExpr, view: str) -> DataType:
    """The type a value of result type `t` is in view `view` (memoized on `t`)."""
    found = t.projections.get(view)
    if found is not None:
        return found
    if t.collection_of is not None:
        elem = AttributeExpr(name="elem", type=None, location=t.location)
        arr = ArrayExpr(elem=elem)
        t.projections[view] = arr
        elem.type = project(t.collection_of, view)
        return arr
    if view not in t.views:  # a nested attribute names a view the type lacks: checked
        view = DEFAULT_VIEW
    if not _needs_projection(t, view, set()):
        t.projections[view] = t
        return t
    obj = t.attribute.type
    if not isinstance(obj, ObjectExpr):  # pragma: no cover - check_views refuses these
        raise TypeError(f"result type {t.name!r} is not an object")
    v = t.views[view]
    projected = ObjectExpr(required=[n for n in obj.required if n in v.attributes],
                           required_at=dict(obj.required_at))
    name = t.name if view == DEFAULT_VIEW else t.name + view[:1].upper() + view[1:]
    attr = AttributeExpr(name=name, type=projected, location=t.location,
                         description=t.attribute.description, example=t.attribute.example,
                         meta=dict(t.attribute.meta))
    ut = UserTypeExpr(name=name, attribute=attr, location=t.location)
    ut.meta["bastion:projection"] = f"{t.name}:{view}"
    t.projections[view] = ut  # before the attributes: recursive types meet it again
    for n, vattr in v.attributes.items():
        base = obj.attributes.get(n)
        if base is None:
            continue
        a = copy.copy(base)
        inner = base.type
        if isinstance(inner, ResultTypeExpr):
            a.type = project(inner, vattr.view or base.view or DEFAULT_VIEW)
        projected.attributes[n] = a
    return ut


def _needs_projection(t: ResultTypeExpr, view: str, seen: set[int]) -> bool:
    """Whether view `view` of `t` differs from `t` itself (an explicit view, or nested ones)."""
    if id(t) in seen:
        return False
    seen.add(id(t))
    if not t.meta.get("bastion:view:implicit") or view != DEFAULT_VIEW:
        return True
    obj = t.attribute.type
    if not isinstance(obj, ObjectExpr):
        return False
    for base in obj.attributes.values():
        inner = base.type
        if isinstance(inner, ResultTypeExpr):
            nested = inner.collection_of or inner
            if base.view not in (None, DEFAULT_VIEW) or _needs_projection(
                nested, DEFAULT_VIEW, seen
            ):
                return True
    return False
