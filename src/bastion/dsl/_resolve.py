"""Finalize, first steps: resolve type names, `Empty`, `Extend`, `Reference`, named types.

After these steps every attribute has a type, and every user type an attribute holds is
an object: uses of a named primitive, array or map (`Type("UUID", String, format=UUID)`)
are replaced by the type it names, its validations merged into the attribute.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

from bastion.dsl._problems import Problems
from bastion.dsl.expr import (
    EMPTY,
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    ErrorExpr,
    MapExpr,
    ObjectExpr,
    ResultTypeExpr,
    TypeRef,
    UnionExpr,
    UserTypeExpr,
)

__all__ = ["apply_bases", "default_types", "inline_named", "resolve_names", "walk"]

# What Reference copies from the referenced attribute when the attribute leaves it unset.
_INHERITED = ("description", "example", "enum", "format", "pattern", "minimum", "maximum",
              "exclusive_minimum", "exclusive_maximum", "min_length", "max_length")


def _roots(api: APIExpr) -> Iterator[tuple[AttributeExpr, str]]:
    """Every attribute at the root of a design: types, payloads, results, errors, HTTP."""
    for ut in list(api.types.values()):
        yield ut.attribute, f"type {ut.name!r}"
    for m in api.methods():
        if m.payload is not None:
            yield m.payload, f"payload of {m.qualified}"
        if m.result is not None:
            yield m.result, f"result of {m.qualified}"
        for view in m.result_views.values():
            yield view, f"result of {m.qualified}"
        if m.streaming_payload is not None:
            yield m.streaming_payload, f"streaming payload of {m.qualified}"
        if m.http is not None:
            for a in m.http.declared.values():
                yield a, f"HTTP mapping of {m.qualified}"
            if m.http.payload is not None:
                yield m.http.payload, f"payload of {m.qualified}"
    for holder in _error_holders(api):
        for e in holder:
            if e.type is not None:
                yield AttributeExpr(e.name, e.type, e.location), f"error {e.name!r}"
    for server in api.server_defs:
        for host in server.hosts:
            for v in host.variables.values():
                yield v, f"variable {v.name!r} of host {host.name!r}"


def _error_holders(api: APIExpr) -> Iterator[list[ErrorExpr]]:
    yield api.errors
    for svc in api.services.values():
        yield svc.errors
        for m in svc.methods.values():
            yield m.errors


def walk(api: APIExpr, visit: Callable[[AttributeExpr, str], None]) -> None:
    """Call `visit(attribute, owner)` once for every attribute the design holds."""
    seen: set[int] = set()
    for root, owner in _roots(api):
        stack = [(root, owner)]
        while stack:
            attr, where = stack.pop()
            if id(attr) in seen:
                continue
            seen.add(id(attr))
            visit(attr, where)
            t = attr.type
            if isinstance(t, UserTypeExpr):
                stack.append((t.attribute, f"type {t.name!r}"))
            elif isinstance(t, ObjectExpr):
                stack.extend((a, f"{where}, attribute {a.name!r}")
                             for a in reversed(t.attributes.values()))
            elif isinstance(t, ArrayExpr):
                stack.append((t.elem, where))
            elif isinstance(t, MapExpr):
                stack.extend(((t.elem, where), (t.key, where)))
            elif isinstance(t, UnionExpr):
                stack.extend((a, f"{where}, alternative {a.name!r}")
                             for a in t.alternatives.values())


# ---------------------------------------------------------------------------- names


def resolve_names(api: APIExpr, problems: Problems) -> None:
    """Replace every type named by string with the type; `Payload(Empty)` means none."""
    for m in api.methods():
        if m.payload is not None and _is_empty(m.payload):
            m.payload = None
        if m.result is not None and _is_empty(m.result):
            m.result = None
        for attr in (m.payload, m.result, m.streaming_payload):
            if attr is not None and attr.type is None:
                attr.type = ObjectExpr()

    def visit(attr: AttributeExpr, owner: str) -> None:
        if attr.type is not None:
            attr.type = _resolve(api, attr.type, owner, problems)
        obj = attr.type if isinstance(attr.type, ObjectExpr) else None
        if obj is not None:
            obj.bases = [(_resolve(api, t, owner, problems), w) for t, w in obj.bases]
            obj.references = [(_resolve(api, t, owner, problems), w) for t, w in obj.references]

    walk(api, visit)
    for holder in _error_holders(api):
        for e in holder:
            if e.type is not None:
                e.type = _resolve(api, e.type, f"error {e.name!r}", problems)
                if e.type is EMPTY:
                    problems.add(e.location, f"error {e.name!r}: an error needs a type (or none "
                                 "for ErrorResult); use Body(Empty) in its Response for no body")


def _is_empty(attr: AttributeExpr) -> bool:
    return attr.type is EMPTY or (isinstance(attr.type, TypeRef) and attr.type.name == "Empty")


def _resolve(api: APIExpr, t: DataType, owner: str, problems: Problems) -> DataType:
    if isinstance(t, TypeRef):
        found = api.types.get(t.name)
        if found is None:
            known = ", ".join(sorted(api.types)) or "none"
            problems.add(t.location, f"{owner}: unknown type {t.name!r} (declared types: {known})")
            return t
        return found
    return t


# ---------------------------------------------------------------------------- Extend, Reference


def apply_bases(api: APIExpr, problems: Problems) -> None:
    """Apply every `Extend` (attributes added) and `Reference` (definitions taken)."""
    done: set[int] = set()
    active: set[int] = set()

    def process(obj: ObjectExpr, owner: str) -> None:
        if id(obj) in done:
            return
        if id(obj) in active:
            where = (obj.bases or obj.references)[0][1]
            problems.add(where, f"{owner}: Extend or Reference makes a cycle")
            return
        active.add(id(obj))
        for t, where in obj.bases:
            base = _object_of(t)
            if base is None:
                problems.add(where, f"{owner}: Extend needs an object type, not {t.describe()}")
                continue
            process(base, f"type {t.name!r}")
            for name, battr in base.attributes.items():
                if name not in obj.attributes:
                    obj.attributes[name] = copy.copy(battr)
            for name in base.required:
                if name not in obj.required:
                    obj.required.append(name)
                    obj.required_at[name] = where
        for t, where in obj.references:
            ref = _object_of(t)
            if ref is None:
                problems.add(where, f"{owner}: Reference needs an object type, not "
                             f"{t.describe()}")
                continue
            process(ref, f"type {t.name!r}")
            for name, attr in obj.attributes.items():
                rattr = ref.attributes.get(name)
                if rattr is not None:
                    _inherit(attr, rattr)
        active.discard(id(obj))
        done.add(id(obj))

    def visit(attr: AttributeExpr, owner: str) -> None:
        if isinstance(attr.type, ObjectExpr) and (attr.type.bases or attr.type.references):
            process(attr.type, owner)

    walk(api, visit)


def _object_of(t: DataType) -> ObjectExpr | None:
    if isinstance(t, UserTypeExpr):
        return t.attribute.type if isinstance(t.attribute.type, ObjectExpr) else None
    return t if isinstance(t, ObjectExpr) else None


def _inherit(attr: AttributeExpr, ref: AttributeExpr) -> None:
    if attr.type is None:
        attr.type = ref.type
    for name in _INHERITED:
        if getattr(attr, name) is None and getattr(ref, name) is not None:
            setattr(attr, name, getattr(ref, name))
    if not attr.has_default and ref.has_default:
        attr.default, attr.has_default = ref.default, True
    for key, value in ref.meta.items():
        attr.meta.setdefault(key, value)


def default_types(api: APIExpr) -> None:
    """Give every attribute still without a type `String`, as Goa does."""
    from bastion.dsl._primitives import String

    def visit(attr: AttributeExpr, owner: str) -> None:
        if attr.type is None:
            attr.type = String

    walk(api, visit)


# ---------------------------------------------------------------------------- named types


def inline_named(api: APIExpr, problems: Problems) -> None:
    """Replace each use of a named primitive, array or map by what it names.

    The attribute keeps what it sets itself and takes the rest (description, format,
    validations, default, example, meta) from the named type. Collections
    (`CollectionOf`) become arrays of their element type.
    """

    def visit(attr: AttributeExpr, owner: str) -> None:
        hops = 0
        t = attr.type
        while isinstance(t, UserTypeExpr) and not isinstance(t.attribute.type, ObjectExpr):
            hops += 1
            if hops > 32:
                problems.add(attr.location, f"{owner}: type {t.name!r} names itself")
                return
            named = t.attribute
            _inherit(attr, named)
            attr.type = named.type
            if isinstance(t, ResultTypeExpr) and t.collection_of is not None:
                break
            t = attr.type

    walk(api, visit)
    for holder in _error_holders(api):
        for e in holder:
            t = e.type
            while isinstance(t, UserTypeExpr) and not isinstance(t.attribute.type, ObjectExpr):
                t = t.attribute.type
            e.type = t


