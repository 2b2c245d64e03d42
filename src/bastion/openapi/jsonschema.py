"""JSON Schema (draft 2020-12, the dialect OpenAPI 3.1 uses) for design types.

A `SchemaRegistry` turns attributes and types into schemas. Each user type becomes one
named schema that every use points at with `$ref`, so recursive types work; inline
objects, arrays and maps stay inline.

Choices worth knowing:

- An optional property of an object admits `null` (`type: [T, "null"]`, or `anyOf`
  with `{type: null}` around a `$ref`), because the decoder accepts a JSON `null` for an
  optional attribute and treats it as absent. Required properties, array items, map
  values and parameters do not: the decoder refuses `null` there. Responses never
  carry a `null`: absent attributes are left out.
- Integers carry the bounds of their wire type (`Int32` gets `minimum: -2147483648`)
  unless the design's own bound is at least as tight.
- Format `ip` becomes `anyOf: [{format: ipv4}, {format: ipv6}]`, and `uri` (Go's
  `url.ParseRequestURI`) an absolute URI or an absolute path, so validators that check
  formats accept what the decoder accepts; `regexp` becomes `regex`.
- `Bytes` is a base64 string (`contentEncoding: base64`); its length bounds, declared in
  bytes, become the length bounds of the base64 text (`4 * ceil(n / 3)` characters), which
  never rejects a valid value.
- Properties are named as they are in JSON (`Meta("struct:tag:json", ...)`); one marked
  `Meta("openapi:generate", "false")` is left out.
- A `OneOf` is Goa's tagged object: `Type` (one of the alternatives' names) and `Value`,
  a string of JSON text whose schema is `contentSchema` (`anyOf` the alternatives).
- `mac`, `cidr`, `json` and `rfc1123` have no JSON Schema format: they are written as
  `format` all the same (a format a validator does not know is an annotation).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable
from typing import Any

from bastion.dsl.expr import (
    ArrayExpr,
    AttributeExpr,
    DataType,
    MapExpr,
    ObjectExpr,
    Primitive,
    ResultTypeExpr,
    UnionExpr,
    UserTypeExpr,
    meta_flag,
)
from bastion.errors import DesignError

__all__ = ["DIALECT", "SchemaRegistry", "json_schema"]

#: The JSON Schema dialect of every schema built here.
DIALECT = "https://json-schema.org/draft/2020-12/schema"

# OpenAPI component keys must match this; user type names are free text.
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]")

_FORMATS = {
    "uuid": "uuid",
    "email": "email",
    "date": "date",
    "date-time": "date-time",
    "uri": "uri",
    "ipv4": "ipv4",
    "ipv6": "ipv6",
    "hostname": "hostname",
    "regexp": "regex",
}


class SchemaRegistry:
    """Builds JSON Schemas for design types and keeps one named schema per user type.

    `ref_prefix` is where the named schemas live: `#/components/schemas/` in an OpenAPI
    document, `#/$defs/` in a standalone schema.
    """

    def __init__(self, ref_prefix: str = "#/components/schemas/") -> None:
        self.ref_prefix = ref_prefix
        self._names: dict[UserTypeExpr, str] = {}
        self._taken: set[str] = set()
        self._defs: dict[str, dict[str, Any]] = {}
        self._pending: list[UserTypeExpr] = []

    # ------------------------------------------------------------------ names

    def register(self, types: Iterable[UserTypeExpr]) -> None:
        """Give each user type its named schema, in order (so names follow the design).

        Named primitives, arrays and maps have none (their uses are inlined); result
        types and types marked `Meta("openapi:generate", "false")` get one only when an
        operation uses them: a result type's views are what responses carry.
        """
        for ut in types:
            if not ut.is_object or isinstance(ut, ResultTypeExpr):
                continue
            if not meta_flag(ut.meta, "openapi:generate"):
                continue
            self.ref(ut)

    def reserve(self, name: str) -> str:
        """Return a free schema name close to `name` and mark it taken (for built-ins)."""
        base = _NAME_OK.sub("_", name) or "Schema"
        candidate, n = base, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{base}_{n}"
        self._taken.add(candidate)
        return candidate

    def ref(self, ut: UserTypeExpr) -> dict[str, Any]:
        """Return a `$ref` to user type `ut`'s named schema, registering it if new."""
        name = self._names.get(ut)
        if name is None:
            name = self.reserve(ut.name)
            self._names[ut] = name
            self._pending.append(ut)
        return {"$ref": self.ref_prefix + name}

    def ref_to(self, name: str) -> dict[str, Any]:
        """Return a `$ref` to the named schema `name` (a built-in added with `define`)."""
        return {"$ref": self.ref_prefix + name}

    def define(self, name: str, schema: dict[str, Any]) -> None:
        """Add a named schema built elsewhere (its name comes from `reserve`)."""
        self._defs[name] = schema

    def definitions(self) -> dict[str, dict[str, Any]]:
        """Every named schema: user types first, in the order they were met, then built-ins."""
        # Building one type may meet new ones (a type used only inside another): drain.
        while self._pending:
            ut = self._pending.pop(0)
            self._defs[self._names[ut]] = self._user_type(ut)
        user = {self._names[ut]: self._defs[self._names[ut]] for ut in self._names}
        rest = {k: v for k, v in self._defs.items() if k not in user}
        return {**user, **rest}

    # ------------------------------------------------------------------ schemas

    def attribute(self, attr: AttributeExpr) -> dict[str, Any]:
        """Return the schema of `attr`: its type plus every validation the design puts on it."""
        t = attr.type
        s = self.type(t)
        if isinstance(t, Primitive):
            self._primitive_validations(s, attr, t)
        elif isinstance(t, ArrayExpr):
            _put(s, "minItems", attr.min_length)
            _put(s, "maxItems", attr.max_length)
        elif isinstance(t, MapExpr):
            _put(s, "minProperties", attr.min_length)
            _put(s, "maxProperties", attr.max_length)
        if attr.enum is not None:
            s["enum"] = [_jsonable(v, attr, "enum") for v in attr.enum]
        if attr.has_default and attr.default is not None:
            s["default"] = _jsonable(attr.default, attr, "default")
        if attr.example is not None:
            s["examples"] = [_jsonable(attr.example, attr, "example")]
        if attr.description:
            s["description"] = attr.description
        return s

    def type(self, t: DataType | None) -> dict[str, Any]:
        """Return the schema of type `t` alone (no attribute validations)."""
        if t is None:  # finalize gives untyped attributes String; keep the same default
            return {"type": "string"}
        if isinstance(t, UserTypeExpr):
            return self.ref(t)
        if isinstance(t, Primitive):
            return _primitive(t)
        if isinstance(t, ArrayExpr):
            return {"type": "array", "items": self.attribute(t.elem)}
        if isinstance(t, MapExpr):
            s: dict[str, Any] = {"type": "object"}
            key = t.key.type
            if isinstance(key, Primitive) and key.kind == "integer":
                digits = "^[0-9]+$" if (key.low is not None and key.low >= 0) else "^-?[0-9]+$"
                s["propertyNames"] = {"pattern": digits}
            s["additionalProperties"] = self.attribute(t.elem)
            return s
        if isinstance(t, ObjectExpr):
            return self.object(t)
        if isinstance(t, UnionExpr):
            names = list(t.alternatives)
            return {
                "type": "object",
                "description": "One of " + ", ".join(names) + ": `Type` names it, `Value` "
                               "holds it as JSON text.",
                "properties": {
                    "Type": {"type": "string", "enum": names},
                    "Value": {"type": "string", "contentMediaType": "application/json",
                              "contentSchema": {"anyOf": [self.attribute(a)
                                                          for a in t.alternatives.values()]}},
                },
                "required": ["Type", "Value"],
            }
        raise DesignError(f"type {t.describe()} has no JSON Schema (finalize the design first)")

    def object(self, obj: ObjectExpr, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Return the schema of `obj`, or of only its attributes `names` (a request body)."""
        keep = list(obj.attributes) if names is None else [n for n in names]
        keep = [n for n in keep if n in obj.attributes
                and meta_flag(obj.attributes[n].meta, "openapi:generate")]
        props = {
            obj.attributes[n].wire_name: self.attribute(obj.attributes[n]) if n in obj.required
            else _nullable(self.attribute(obj.attributes[n]))
            for n in keep
        }
        required = [obj.attributes[n].wire_name for n in obj.required if n in keep]
        s: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            s["required"] = required
        return s

    # ------------------------------------------------------------------ internals

    def _user_type(self, ut: UserTypeExpr) -> dict[str, Any]:
        attr = ut.attribute
        s = {"title": ut.name, **self.type(attr.type)}
        if attr.description:
            s["description"] = attr.description
        if attr.example is not None:
            s["examples"] = [_jsonable(attr.example, attr, "example")]
        return s

    def _primitive_validations(self, s: dict[str, Any], attr: AttributeExpr, t: Primitive) -> None:
        if t.kind in ("integer", "number"):
            low, high = attr.minimum, attr.maximum
            # The wire type bounds the value too; say so unless the design is already tighter.
            if t.low is not None and not _at_least(attr.exclusive_minimum, t.low) and (
                low is None or low < t.low
            ):
                low = t.low
            if t.high is not None and not _at_most(attr.exclusive_maximum, t.high) and (
                high is None or high > t.high
            ):
                high = t.high
            _put(s, "minimum", low)
            _put(s, "exclusiveMinimum", attr.exclusive_minimum)
            _put(s, "maximum", high)
            _put(s, "exclusiveMaximum", attr.exclusive_maximum)
        elif t.kind == "string":
            fmt = attr.format
            if fmt == "ip":
                s["anyOf"] = [{"format": "ipv4"}, {"format": "ipv6"}]
            elif fmt == "uri":
                # Go's url.ParseRequestURI, Goa's `uri`: an absolute URI or an absolute path.
                s["anyOf"] = [{"format": "uri"},
                              {"format": "uri-reference", "pattern": r"^(/|\*$)"}]
            elif fmt is not None:
                s["format"] = _FORMATS.get(fmt, str(fmt))
            elif attr.credential == "password":
                s["format"] = "password"  # a UI hint OpenAPI registers: mask the field
            _put(s, "pattern", attr.pattern)
            _put(s, "minLength", attr.min_length)
            _put(s, "maxLength", attr.max_length)
        elif t.kind == "bytes":
            if attr.min_length is not None:
                s["minLength"] = 4 * math.ceil(attr.min_length / 3)
            if attr.max_length is not None:
                s["maxLength"] = 4 * math.ceil(attr.max_length / 3)


def json_schema(t: DataType | AttributeExpr) -> dict[str, Any]:
    """Return a standalone JSON Schema (2020-12) for a type or attribute, user types in `$defs`.

    The design must be finalized first (type names resolved).
    """
    reg = SchemaRegistry("#/$defs/")
    body = reg.attribute(t) if isinstance(t, AttributeExpr) else reg.type(t)
    out: dict[str, Any] = {"$schema": DIALECT, **body}
    defs = reg.definitions()
    if defs:
        out["$defs"] = defs
    return out


def _primitive(t: Primitive) -> dict[str, Any]:
    if t.kind == "any":
        return {}
    if t.kind == "bytes":
        return {"type": "string", "contentEncoding": "base64"}
    s: dict[str, Any] = {"type": t.kind}
    if t.json_format is not None:
        s["format"] = t.json_format
    return s


def _nullable(s: dict[str, Any]) -> dict[str, Any]:
    """`s`, also admitting `null` (what the decoder takes for an absent optional value)."""
    if not s:
        return s  # `Any` admits null already
    kind = s.get("type")
    if isinstance(kind, str) and "$ref" not in s:
        out = {**s, "type": [kind, "null"]}
        if "enum" in s:
            out["enum"] = [*s["enum"], None]  # enum is checked apart from type
        return out
    # A reference (or anything without one type): null as an alternative; notes such
    # as the description stay beside it.
    core = {k: v for k, v in s.items() if k in _CORE}
    rest = {k: v for k, v in s.items() if k not in _CORE}
    return {"anyOf": [core, {"type": "null"}], **rest}


_CORE = frozenset({"$ref", "type", "anyOf", "enum", "items", "properties", "required",
                   "additionalProperties", "propertyNames", "format", "pattern",
                   "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
                   "exclusiveMaximum", "minItems", "maxItems", "minProperties",
                   "maxProperties", "contentEncoding"})


def _put(s: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        s[key] = value


def _at_least(bound: float | None, limit: int) -> bool:
    return bound is not None and bound >= limit


def _at_most(bound: float | None, limit: int) -> bool:
    return bound is not None and bound <= limit


def _jsonable(value: Any, attr: AttributeExpr, what: str) -> Any:
    """Return `value` as JSON data (tuples as lists, bytes as base64), or raise DesignError."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v, attr, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, attr, what) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise DesignError(
        f"{attr.location}: attribute {attr.name!r}: {what} {value!r} cannot be written as "
        "JSON; use strings, numbers, booleans, lists or dicts"
    )
