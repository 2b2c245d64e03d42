"""Find every invalid field of a value, not just the first.

msgspec stops at the first error, which is what the hot path wants. When a request is
invalid, `Collector` walks the raw JSON value against the design and reports each bad
field. Leaves are checked by msgspec itself (`msgspec.convert` with the same compiled
annotation), so both paths agree on what is valid and word their messages alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from bastion.dsl.expr import (
    ArrayExpr,
    AttributeExpr,
    MapExpr,
    ObjectExpr,
    UnionExpr,
    UserTypeExpr,
)
from bastion.schema.compile import TypeCompiler
from bastion.schema.formats import FORMAT_PATTERNS, dec_hook, describe_format, json_name

__all__ = ["Collector", "FieldError", "strip_location"]

_AT = re.compile(r" - at `\$[^`]*`$")
_REGEX_MISMATCH = "Expected `str` matching regex"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: where it is (`in`: body, path, query, header, cookie) and why."""

    field: str
    message: str
    where: str = "body"

    def to_json(self) -> dict[str, str]:
        """The field error as it appears in a 400 body."""
        return {"field": self.field, "in": self.where, "message": self.message}


def strip_location(message: str) -> str:
    """Drop msgspec's ` - at `$.x`` suffix; Bastion reports the field separately."""
    return _AT.sub("", message)


class Collector:
    """Collects every field error of raw values against one design's attributes."""

    def __init__(self, compiler: TypeCompiler) -> None:
        self._compiler = compiler
        self._leaves: dict[int, Any] = {}

    @property
    def compiler(self) -> TypeCompiler:
        """The compiler whose types this collector checks values against."""
        return self._compiler

    def object(
        self,
        value: Any,
        attr: AttributeExpr,
        path: str,
        where: str,
        out: list[FieldError],
        *,
        skip_required: frozenset[str] = frozenset(),
        only: frozenset[str] | None = None,
        strict: bool = True,
    ) -> None:
        """Check object `value` against object attribute `attr`, appending to `out`."""
        obj = attr.object
        if obj is None:
            self.value(value, attr, path, where, out, strict=strict)
            return
        if not isinstance(value, dict):
            out.append(FieldError(path or "body", f"Expected `object`, got `{json_name(value)}`",
                                  where))
            return
        self._fields(value, obj, path, where, out, skip_required, only, strict)

    def value(
        self, value: Any, attr: AttributeExpr, path: str, where: str, out: list[FieldError],
        *, strict: bool = True,
    ) -> None:
        """Check any `value` against `attr`, appending every problem to `out`."""
        t = attr.type
        if isinstance(t, UserTypeExpr | ObjectExpr):
            self.object(value, attr, path, where, out, strict=strict)
        elif isinstance(t, ArrayExpr):
            if not isinstance(value, list):
                out.append(FieldError(path, f"Expected `array`, got `{json_name(value)}`", where))
                return
            self._length(len(value), attr, "array", path, where, out)
            for i, item in enumerate(value):
                self.value(item, t.elem, f"{path}[{i}]", where, out, strict=strict)
        elif isinstance(t, MapExpr):
            if not isinstance(value, dict):
                out.append(FieldError(path, f"Expected `object`, got `{json_name(value)}`", where))
                return
            self._length(len(value), attr, "object", path, where, out)
            for k, item in value.items():
                self.value(k, t.key, f"{path}[{k!r}]", where, out, strict=False)
                self.value(item, t.elem, f"{path}.{k}", where, out, strict=strict)
        elif isinstance(t, UnionExpr):
            self._union(value, t, path, where, out)
        else:
            leaf = self._leaves.get(id(attr))
            if leaf is None:
                leaf = self._leaves[id(attr)] = self._compiler.leaf(attr)
            try:
                msgspec.convert(value, leaf, strict=strict, dec_hook=dec_hook)
            except msgspec.ValidationError as exc:
                message = strip_location(str(exc))
                if attr.format in FORMAT_PATTERNS and message.startswith(_REGEX_MISMATCH):
                    # The format's regex is an implementation detail: name the format.
                    message = describe_format(attr.format)
                out.append(FieldError(path, message, where))

    def _union(
        self, value: Any, t: UnionExpr, path: str, where: str, out: list[FieldError]
    ) -> None:
        # Goa's tagged form: {"Type": "<alternative>", "Value": "<the value as JSON text>"}.
        prefix = f"{path}." if path else ""
        if not isinstance(value, dict):
            out.append(FieldError(path or "body", f"Expected `object`, got `{json_name(value)}`",
                                  where))
            return
        name, text = value.get("Type"), value.get("Value")
        alt = t.alternatives.get(name) if isinstance(name, str) else None
        if alt is None:
            out.append(FieldError(prefix + "Type", "Expected one of " + ", ".join(
                repr(n) for n in t.alternatives), where))
        if not isinstance(text, str):
            out.append(FieldError(prefix + "Value", "Expected `str` (the value as JSON text), "
                                  f"got `{json_name(text)}`", where))
            return
        if alt is None:
            return
        try:
            inner = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            out.append(FieldError(prefix + "Value", f"not JSON: {exc}", where))
            return
        self.value(inner, alt, prefix + "Value", where, out)

    def _fields(
        self,
        value: dict[str, Any],
        obj: ObjectExpr,
        path: str,
        where: str,
        out: list[FieldError],
        skip_required: frozenset[str],
        only: frozenset[str] | None,
        strict: bool,
    ) -> None:
        prefix = f"{path}." if path else ""
        for name, attr in obj.attributes.items():
            if only is not None and name not in only:
                continue
            key = attr.wire_name  # as the client wrote it: `struct:tag:json` renames
            present = key in value and value[key] is not None
            if not present:
                if name in obj.required and name not in skip_required:
                    if key in value:
                        out.append(FieldError(prefix + key, "Expected a value, got `null`",
                                              where))
                    else:
                        out.append(FieldError(prefix + key, "missing required field", where))
                continue
            self.value(value[key], attr, prefix + key, where, out, strict=strict)

    @staticmethod
    def _length(
        n: int, attr: AttributeExpr, kind: str, path: str, where: str, out: list[FieldError]
    ) -> None:
        if attr.min_length is not None and n < attr.min_length:
            out.append(FieldError(path, f"Expected `{kind}` of length >= {attr.min_length}",
                                  where))
        if attr.max_length is not None and n > attr.max_length:
            out.append(FieldError(path, f"Expected `{kind}` of length <= {attr.max_length}",
                                  where))
