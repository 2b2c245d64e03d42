"""`OneOf` values: which alternative a value is, and the value, tagged as Goa tags them.

On the wire a union is `{"Type": "<alternative>", "Value": "<value as JSON text>"}`, as
Goa's HTTP transport writes it. Services receive a `OneOfValue` whose `value` is decoded
and validated as its alternative's type, and return one (the value a dict, a Struct or
any object with the alternative's attributes) for a union in a result.
"""

from __future__ import annotations

import types
from typing import Any, ClassVar

import msgspec

from bastion.schema.formats import CustomType, dec_hook, enc_hook, json_name

__all__ = ["OneOfValue", "union_type"]

_encode = msgspec.json.Encoder(enc_hook=enc_hook).encode


class OneOfValue(CustomType):
    """A value of a `OneOf` attribute: `type`, the alternative's name, and the `value`."""

    __slots__ = ("type", "value")

    def __init__(self, type: str, value: Any) -> None:
        self.type = type
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OneOfValue):
            return NotImplemented
        return (self.type, self.value) == (other.type, other.value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OneOfValue({self.type!r}, {self.value!r})"

    def to_wire(self) -> dict[str, str]:
        """The union as Goa writes it: the alternative's name, and the value as JSON text."""
        return {"Type": self.type, "Value": _encode(self.value).decode()}


class _Union(OneOfValue):
    """Base of the union types a compiler generates: one per `OneOf`."""

    __slots__ = ()
    alternatives: ClassVar[dict[str, Any]] = {}  # name -> msgspec annotation
    decoders: ClassVar[dict[str, msgspec.json.Decoder[Any]]] = {}
    module: ClassVar[types.ModuleType | None] = None  # where forward references live

    @classmethod
    def _annotation(cls, name: str) -> Any:
        ann = cls.alternatives[name]
        if isinstance(ann, str) and cls.module is not None:
            # A type still being defined when the union was made (a recursive type).
            ann = cls.alternatives[name] = getattr(cls.module, ann)
        return ann

    @classmethod
    def _decoder(cls, name: str) -> msgspec.json.Decoder[Any]:
        found = cls.decoders.get(name)
        if found is None:
            found = cls.decoders[name] = msgspec.json.Decoder(cls._annotation(name),
                                                              dec_hook=dec_hook)
        return found

    @classmethod
    def decode(cls, value: Any) -> _Union:
        """Validate a union read from the wire (or returned by a method) as this type."""
        if isinstance(value, OneOfValue):
            name, inner, wire = value.type, value.value, False
        elif isinstance(value, dict):
            if "Type" not in value or "Value" not in value:
                raise ValueError("Expected `object` with `Type` and `Value`")
            name, inner, wire = value["Type"], value["Value"], True
        else:
            raise TypeError(f"Expected `object`, got `{json_name(value)}`")
        if name not in cls.alternatives:
            raise ValueError(f"Invalid union type {name!r}: expected one of "
                             + ", ".join(repr(n) for n in cls.alternatives))
        try:
            if wire:
                if not isinstance(inner, str):
                    raise TypeError(f"Expected `str` (the value as JSON text), got "
                                    f"`{json_name(inner)}`")
                decoded = cls._decoder(name).decode(inner)
            else:
                decoded = msgspec.convert(inner, cls._annotation(name), dec_hook=dec_hook,
                                          from_attributes=not isinstance(inner, dict))
        except msgspec.ValidationError as exc:  # before DecodeError: it is one
            raise ValueError(f"union value of type {name!r}: {exc}") from None
        except msgspec.DecodeError as exc:
            raise ValueError(f"union value is not JSON: {exc}") from None
        return cls(name, decoded)


def union_type(
    name: str, alternatives: dict[str, Any], module: types.ModuleType | None = None
) -> type[OneOfValue]:
    """A new union type taking values of `alternatives` (name -> msgspec annotation).

    Each compiler makes its own, so two Apps never share one; an annotation given as a
    name is a class of `module` defined later (a recursive type).
    """
    return type(f"OneOf_{name}", (_Union,), {
        "__slots__": (),
        "alternatives": dict(alternatives),
        "decoders": {},
        "module": module,
    })
