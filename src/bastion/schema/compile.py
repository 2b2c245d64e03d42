"""Compile design types into msgspec types, once, when an app starts.

Each user type becomes a `msgspec.Struct` class; every validation the design states
(types, required, enum, format, pattern, ranges, lengths) becomes part of the type, so
decoding a request body validates it in one C call.

Generated classes belong to their compiler alone. msgspec resolves the forward references
of recursive types through `sys.modules`, so a compiler's module is registered there only
while it defines classes; once they are defined, msgspec resolves (and caches) every one
of them and the module leaves `sys.modules` again. Nothing generated outlives the App
that owns the compiler, and two Apps never see each other's classes.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import types
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal, Optional

import msgspec

from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    MapExpr,
    ObjectExpr,
    Primitive,
    UnionExpr,
    UserTypeExpr,
    identifier,
)
from bastion.schema.formats import (
    FORMAT_PATTERNS,
    BoundedInt,
    FormattedStr,
    bounded_int,
    formatted_str,
)
from bastion.schema.union import OneOfValue, union_type

__all__ = ["TypeCompiler", "py_name"]

_INT64_MAX = 2**63 - 1


def py_name(name: str) -> str:
    """The Python identifier for a design attribute name (the wire name is kept)."""
    return identifier(name)


class TypeCompiler:
    """Turns one design's types into msgspec types; owns the generated Struct classes.

    Generated classes live in a private module per compiler so recursive types can
    refer to each other by name, and two designs in one process never share classes.
    """

    def __init__(self, api: APIExpr) -> None:
        self.api = api.finalize()
        # Unique among live compilers; the module is in `sys.modules` only while defining.
        self.module = types.ModuleType(f"bastion._generated.{py_name(api.name)}_{id(self):x}")
        self._structs: dict[int, str] = {}  # id(UserTypeExpr | ObjectExpr) -> class name
        self._names: set[str] = set()
        self._defining = 0
        self._unresolved: list[type[msgspec.Struct]] = []
        self._strings: dict[tuple[str, str | None, int | None, int | None], type[FormattedStr]]
        self._strings = {}
        self._ints: dict[tuple[int | None, int], type[BoundedInt]] = {}
        self._unions: dict[int, type[OneOfValue]] = {}

    # -- public -------------------------------------------------------------------

    def struct(self, ut: UserTypeExpr) -> type[msgspec.Struct]:
        """The Struct class of user type `ut`."""
        with self._registered():
            name = self._struct_name(ut, ut.name, ut.object, None)
        cls: type[msgspec.Struct] = getattr(self.module, name)
        return cls

    def object_struct(
        self,
        name: str,
        attr: AttributeExpr,
        only: Iterable[str] | None = None,
        optional: Iterable[str] = (),
    ) -> type[msgspec.Struct]:
        """A Struct for object attribute `attr`, keeping only the attributes in `only`.

        Attributes named in `optional` are optional whatever the design says (credentials:
        their absence is the security layer's 401, not a validation error).
        """
        obj = attr.object
        if obj is None:
            raise TypeError(f"{name}: not an object")
        keep = set(only) if only is not None else None
        cls_name = self._unique(name)
        with self._registered():
            self._define(cls_name, obj, keep, set(optional))
        cls: type[msgspec.Struct] = getattr(self.module, cls_name)
        return cls

    def annotation(self, attr: AttributeExpr) -> Any:
        """The msgspec type annotation validating a value of `attr`."""
        with self._registered():
            return self._annotation(attr, attr.name)

    def leaf(self, attr: AttributeExpr) -> Any:
        """The annotation of a primitive attribute (no class is defined, none registered)."""
        t = attr.type
        if not isinstance(t, Primitive):
            return self.annotation(attr)
        return self._primitive(t, attr)

    def resolve(self, annotation: Any) -> Any:
        """Make msgspec resolve the generated names in `annotation` (and fail early)."""
        with self._registered():
            msgspec.json.Decoder(annotation)
        return annotation

    # -- internals ----------------------------------------------------------------

    @contextlib.contextmanager
    def _registered(self) -> Iterator[None]:
        """Put the module in `sys.modules` while classes are defined, then resolve them.

        Resolving builds msgspec's cached type info of each new class, the only moment
        it reads the module by name; after that the classes work without it.
        """
        name = self.module.__name__
        self._defining += 1
        if self._defining == 1:
            sys.modules[name] = self.module
        try:
            yield
            if self._defining == 1:
                while self._unresolved:
                    msgspec.json.Decoder(self._unresolved.pop())
        finally:
            self._defining -= 1
            if self._defining == 0:
                self._unresolved.clear()
                sys.modules.pop(name, None)

    def _unique(self, base: str) -> str:
        name = py_name(base[:1].upper() + base[1:]) if base else "Anon"
        candidate, n = name, 2
        while candidate in self._names:
            candidate, n = f"{name}{n}", n + 1
        self._names.add(candidate)
        return candidate

    def _struct_name(
        self, key: UserTypeExpr | ObjectExpr, hint: str, obj: ObjectExpr, keep: set[str] | None
    ) -> str:
        name = self._structs.get(id(key))
        if name is None:
            name = self._unique(hint)
            self._structs[id(key)] = name
            self._define(name, obj, keep, set())
        return name

    def _define(
        self, name: str, obj: ObjectExpr, keep: set[str] | None, optional: set[str]
    ) -> None:
        required: list[tuple[str, Any, Any]] = []
        rest: list[tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for attr_name, attr in obj.attributes.items():
            if keep is not None and attr_name not in keep:
                continue
            # The Python name (`struct:field:name` or the name) and the JSON one
            # (`struct:tag:json` or the name).
            field_name = attr.field_name
            if field_name != attr.wire_name:
                rename[field_name] = attr.wire_name
            ann = self._annotation(attr, f"{name}_{attr_name}")
            if attr_name in obj.required and attr_name not in optional:
                required.append((field_name, ann, msgspec.NODEFAULT))
            else:
                # `ann` may be a forward-reference string, which `X | None` cannot take.
                rest.append((field_name, Optional[ann], self._default(attr)))  # noqa: UP045
        cls = msgspec.defstruct(
            name,
            [*required, *rest],
            kw_only=True,
            omit_defaults=True,
            rename=rename or None,
            module=self.module.__name__,
        )
        setattr(self.module, name, cls)
        self._unresolved.append(cls)

    @staticmethod
    def _default(attr: AttributeExpr) -> Any:
        if not attr.has_default or attr.default is None:
            return None
        value = attr.default
        if isinstance(value, list | dict):
            return msgspec.field(default_factory=lambda: copy.deepcopy(value))
        return value

    def _annotation(self, attr: AttributeExpr, hint: str) -> Any:
        t = attr.type
        if isinstance(t, UserTypeExpr | ObjectExpr):
            name = self._struct_name(t, t.name if isinstance(t, UserTypeExpr) else hint,
                                     t if isinstance(t, ObjectExpr) else t.object, None)
            # While a recursive type is being defined its class does not exist yet: the
            # name is a forward reference msgspec resolves in the generated module.
            return getattr(self.module, name, name)
        if isinstance(t, ArrayExpr):
            item = self._annotation(t.elem, hint + "Item")
            array: Any = list[item]  # type: ignore[valid-type]
            return _meta(array, min_length=attr.min_length, max_length=attr.max_length)
        if isinstance(t, MapExpr):
            key = self._annotation(t.key, hint + "Key")
            value = self._annotation(t.elem, hint + "Value")
            mapping: Any = dict[key, value]  # type: ignore[valid-type]
            return _meta(mapping, min_length=attr.min_length, max_length=attr.max_length)
        if isinstance(t, Primitive):
            return self._primitive(t, attr)
        if isinstance(t, UnionExpr):
            found = self._unions.get(id(t))
            if found is None:
                alts = {n: self._annotation(a, f"{hint}{py_name(n).title()}")
                        for n, a in t.alternatives.items()}
                found = self._unions[id(t)] = union_type(t.name, alts, self.module)
            return found
        raise TypeError(f"unresolved type {t!r}")  # pragma: no cover - finalize resolves

    def _primitive(self, t: Primitive, attr: AttributeExpr) -> Any:
        if attr.enum is not None:
            return Literal[attr.enum]
        if t.kind == "boolean":
            return bool
        if t.kind == "integer":
            # msgspec takes one lower and one upper bound: fold exclusive bounds into them.
            low = None if attr.exclusive_minimum is None else math.floor(attr.exclusive_minimum) + 1
            high = None if attr.exclusive_maximum is None else math.ceil(attr.exclusive_maximum) - 1
            ge = _tighter(_tighter(t.low, attr.minimum, max), low, max)
            le = _tighter(_tighter(t.high, attr.maximum, min), high, min)
            if le is not None and le > _INT64_MAX:
                # msgspec bounds are int64: the uint64 ceiling is checked by a small hook type.
                key = (None if ge is None else math.ceil(ge), int(le))
                if key not in self._ints:
                    self._ints[key] = bounded_int(*key)
                return self._ints[key]
            return _meta(int, ge=ge, le=le)
        if t.kind == "number":
            return _meta(
                float, ge=attr.minimum, le=attr.maximum, gt=attr.exclusive_minimum,
                lt=attr.exclusive_maximum,
            )
        if t.kind == "string":
            if attr.format is not None:
                if attr.pattern is None and attr.format in FORMAT_PATTERNS:
                    return _meta(str, pattern=FORMAT_PATTERNS[attr.format],
                                 min_length=attr.min_length, max_length=attr.max_length)
                fkey = (attr.format, attr.pattern, attr.min_length, attr.max_length)
                if fkey not in self._strings:
                    self._strings[fkey] = formatted_str(*fkey)
                return self._strings[fkey]
            return _meta(str, pattern=attr.pattern, min_length=attr.min_length,
                         max_length=attr.max_length)
        if t.kind == "bytes":
            return _meta(bytes, min_length=attr.min_length, max_length=attr.max_length)
        return Any


def _meta(tp: Any, **constraints: Any) -> Any:
    kept = {k: v for k, v in constraints.items() if v is not None}
    return Annotated[tp, msgspec.Meta(**kept)] if kept else tp


def _tighter(bound: float | None, user: float | None, pick: Any) -> float | int | None:
    if bound is None:
        return user
    if user is None:
        return bound
    return pick(bound, user)  # type: ignore[no-any-return]

