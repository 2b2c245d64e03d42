"""JSON Schemas of design types: every validation kind, exactly as OpenAPI 3.1 reads them."""

from __future__ import annotations

from typing import Any, cast

import jsonschema  # type: ignore[import-untyped]
import pytest

import bastion.dsl
from bastion.dsl import *
from bastion.dsl.expr import DataType
from bastion.openapi import DIALECT, json_schema
from tests.openapi.support import checked

# `bastion.dsl.Any` is the Any primitive; mypy reads the name as `typing.Any`.
AnyType = cast(DataType, bastion.dsl.Any)


def _type_schema(build: Any, *, required: bool = True) -> dict[str, Any]:
    """Declare type `T` with `build()` inside it and return its component schema.

    Its attributes are made required unless `required` is false: an optional property
    also admits `null`, which the tests of `_nullable` check on their own.
    """
    with API("schemas") as api:
        pass
    with Type("T") as t:
        build()
        if required:
            assert t.object is not None
            Required(*t.object.attributes)
    with Service("s"), Method("m"):
        Result("T")
        with HTTP():
            GET("/t")
    doc = checked(api)
    schema: dict[str, Any] = doc["components"]["schemas"]["T"]
    return schema


def _props(build: Any) -> dict[str, Any]:
    props: dict[str, Any] = _type_schema(build)["properties"]
    return props


def test_primitive_types_and_their_formats() -> None:
    def build() -> None:
        Attribute("b", Boolean)
        Attribute("f32", Float32)
        Attribute("f64", Float64)
        Attribute("s", String)
        Attribute("raw", Bytes)
        Attribute("anything", AnyType)

    assert _props(build) == {
        "b": {"type": "boolean"},
        "f32": {"type": "number", "format": "float"},
        "f64": {"type": "number", "format": "double"},
        "s": {"type": "string"},
        "raw": {"type": "string", "contentEncoding": "base64"},
        "anything": {},
    }


def test_integers_carry_their_wire_bounds_unless_the_design_is_tighter() -> None:
    def build() -> None:
        Attribute("i32", Int32)
        Attribute("i64", Int64)
        Attribute("i", Int)
        Attribute("u32", UInt32)
        Attribute("u64", UInt64)
        Attribute("u", UInt)
        Attribute("age", Int32, minimum=0, maximum=150)
        Attribute("wide", Int32, minimum=-(2**40))
        Attribute("excl", Int32, exclusive_minimum=0, exclusive_maximum=10)

    p = _props(build)
    assert p["i32"] == {
        "type": "integer", "format": "int32", "minimum": -2147483648, "maximum": 2147483647,
    }
    assert p["i64"] == {
        "type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1,
    }
    assert p["i"] == p["i64"]
    assert p["u32"] == {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
    assert p["u64"] == {"type": "integer", "format": "uint64", "minimum": 0, "maximum": 2**64 - 1}
    assert p["u"] == p["u64"]
    assert p["age"] == {"type": "integer", "format": "int32", "minimum": 0, "maximum": 150}
    # The user's bound is wider than 32 bits can hold: the wire bound is the real one.
    assert p["wide"]["minimum"] == -2147483648
    # Exclusive bounds already inside the wire range make the wire bounds redundant.
    assert p["excl"] == {
        "type": "integer", "format": "int32", "exclusiveMinimum": 0, "exclusiveMaximum": 10,
    }


def test_number_bounds_use_the_openapi_31_numeric_form() -> None:
    def build() -> None:
        Attribute("price", Float64, minimum=0, maximum=1000.5)
        Attribute("ratio", Float32, exclusive_minimum=0, exclusive_maximum=1)

    p = _props(build)
    assert p["price"] == {"type": "number", "format": "double", "minimum": 0, "maximum": 1000.5}
    assert p["ratio"] == {
        "type": "number", "format": "float", "exclusiveMinimum": 0, "exclusiveMaximum": 1,
    }


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (UUID, {"format": "uuid"}),
        (Email, {"format": "email"}),
        (Date, {"format": "date"}),
        (DateTime, {"format": "date-time"}),
        # Go's url.ParseRequestURI: an absolute URI, or an absolute path (`/upload/x`).
        (URI, {"anyOf": [{"format": "uri"},
                         {"format": "uri-reference", "pattern": r"^(/|\*$)"}]}),
        (IPv4, {"format": "ipv4"}),
        (IPv6, {"format": "ipv6"}),
        (Hostname, {"format": "hostname"}),
        (Regexp, {"format": "regex"}),
        (IP, {"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
    ],
)
def test_string_formats(fmt: str, expected: dict[str, Any]) -> None:
    def build() -> None:
        Attribute("v", String, format=fmt)

    assert _props(build)["v"] == {"type": "string", **expected}


def test_ip_format_accepts_both_address_families_and_nothing_else() -> None:
    def build() -> None:
        Attribute("addr", String, format=IP)

    schema = {"$schema": DIALECT, **_props(build)["addr"]}
    checker = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    assert checker.is_valid("10.0.0.1")
    assert checker.is_valid("::1")
    assert not checker.is_valid("not-an-ip")


def test_string_lengths_pattern_enum_default_example_description() -> None:
    def build() -> None:
        Attribute("code", String, "A code.", pattern="^[A-Z]{3}$", min_length=3, max_length=3,
                  example="ABC")
        Attribute("kind", String, enum=["a", "b"], default="a")
        Attribute("level", Int32, enum=[1, 2, 3])
        Attribute("on", Boolean, default=True)

    p = _props(build)
    assert p["code"] == {
        "type": "string",
        "pattern": "^[A-Z]{3}$",
        "minLength": 3,
        "maxLength": 3,
        "examples": ["ABC"],
        "description": "A code.",
    }
    assert p["kind"] == {"type": "string", "enum": ["a", "b"], "default": "a"}
    assert p["level"]["enum"] == [1, 2, 3]
    assert p["level"]["type"] == "integer"
    assert p["on"] == {"type": "boolean", "default": True}


def test_bytes_lengths_bound_the_base64_text() -> None:
    def build() -> None:
        Attribute("blob", Bytes, min_length=1, max_length=6)

    # 1 byte is 4 base64 characters, 6 bytes are 8.
    assert _props(build)["blob"] == {
        "type": "string", "contentEncoding": "base64", "minLength": 4, "maxLength": 8,
    }


def test_arrays_bound_items_and_validate_elements() -> None:
    def build() -> None:
        Attribute("tags", ArrayOf(String, min_length=1, max_length=20), min_length=1,
                  max_length=5)
        Attribute("ids", ArrayOf(String, format=UUID))

    p = _props(build)
    assert p["tags"] == {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 20},
        "minItems": 1,
        "maxItems": 5,
    }
    assert p["ids"] == {"type": "array", "items": {"type": "string", "format": "uuid"}}


def test_maps_bound_properties_and_integer_keys_are_digits() -> None:
    def build() -> None:
        Attribute("labels", MapOf(String, String), min_length=1, max_length=10)
        Attribute("by_id", MapOf(Int32, Float64))
        Attribute("by_uid", MapOf(UInt64, Boolean))

    p = _props(build)
    assert p["labels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "minProperties": 1,
        "maxProperties": 10,
    }
    assert p["by_id"] == {
        "type": "object",
        "propertyNames": {"pattern": "^-?[0-9]+$"},
        "additionalProperties": {"type": "number", "format": "double"},
    }
    assert p["by_uid"]["propertyNames"] == {"pattern": "^[0-9]+$"}


def test_inline_objects_stay_inline_with_their_required_list() -> None:
    def build() -> None:
        with Attribute("address"):
            Attribute("street", String)
            Attribute("zip", String, pattern="^[0-9]{5}$")
            Required("street")
        Required("address")

    t = _type_schema(build)
    assert t == {
        "title": "T",
        "type": "object",
        "properties": {
            "address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string"},
                    "zip": {"type": ["string", "null"], "pattern": "^[0-9]{5}$"},
                },
                "required": ["street"],
            }
        },
        "required": ["address"],
    }


def test_optional_properties_admit_null_as_the_decoder_does() -> None:
    def build() -> None:
        Attribute("maybe", String)
        Attribute("kind", String, enum=["a", "b"])
        Attribute("n", Int32, minimum=0)
        Attribute("sub", "Sub", description="A part.")
        Attribute("anything", AnyType)
        Attribute("sure", String)
        Required("sure")

    with API("nullable") as api:
        pass
    with Type("Sub"):
        Attribute("x", Int)
        Required("x")
    with Type("T"):
        build()
    doc = checked(api)
    p = doc["components"]["schemas"]["T"]["properties"]
    assert p["maybe"] == {"type": ["string", "null"]}
    assert p["kind"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert p["n"]["type"] == ["integer", "null"] and p["n"]["minimum"] == 0
    assert p["sub"] == {"anyOf": [{"$ref": "#/components/schemas/Sub"}, {"type": "null"}],
                        "description": "A part."}
    assert p["anything"] == {}
    assert p["sure"] == {"type": "string"}  # required: null is refused, and not documented
    assert "nullable" not in str(p)  # OpenAPI 3.0's keyword, gone in 3.1
    schema = json_schema(api.types["T"])
    jsonschema.validate({"sure": "s", "maybe": None, "kind": None, "n": None, "sub": None},
                        schema)
    for bad in ({"sure": None}, {"sure": "s", "kind": "c"}, {"sure": "s", "sub": {}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_user_types_are_referenced_and_recursive_types_work() -> None:
    with API("tree") as api:
        pass
    with Type("Node", description="A tree node.") as node_t:
        Attribute("value", String)
        Attribute("children", ArrayOf("Node"))
        Attribute("parent", "Node", description="Up the tree.")
        Attribute("index", MapOf(String, node_t))
        Required("value")
    with Service("trees"), Method("root"):
        Result(node_t)
        with HTTP():
            GET("/root")
    doc = checked(api)
    ref = {"$ref": "#/components/schemas/Node"}
    assert doc["components"]["schemas"]["Node"] == {
        "title": "Node",
        "type": "object",
        "properties": {
            "value": {"type": "string"},
            "children": {"type": ["array", "null"], "items": ref},
            "parent": {"anyOf": [ref, {"type": "null"}], "description": "Up the tree."},
            "index": {"type": ["object", "null"], "additionalProperties": ref},
        },
        "required": ["value"],
        "description": "A tree node.",
    }
    assert doc["paths"]["/root"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == ref


def test_every_user_type_gets_a_schema_even_when_unused() -> None:
    with API("types") as api:
        pass
    with Type("Unused"):
        Attribute("x", String)
    doc = checked(api)
    assert doc["components"]["schemas"]["Unused"]["properties"] == {
        "x": {"type": ["string", "null"]}}


def test_a_user_type_named_error_keeps_its_name_and_the_builtin_moves() -> None:
    with API("clash") as api:
        pass
    with Type("Error"):
        Attribute("mine", String)
    with Service("s"), Method("m"):
        Result("Error")
        with HTTP():
            GET("/m")
    doc = checked(api)
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["properties"] == {"mine": {"type": ["string", "null"]}}
    builtin = doc["components"]["responses"]["InternalError"]["content"]["application/json"]
    assert builtin["schema"] == {"$ref": "#/components/schemas/Error_2"}
    assert set(schemas["Error_2"]["properties"]) >= {"name", "id", "message", "errors"}


def test_type_names_are_made_valid_component_keys() -> None:
    with API("names") as api:
        pass
    with Type("Order Line/v2"):
        Attribute("x", String)
    doc = checked(api)
    assert "Order_Line_v2" in doc["components"]["schemas"]


def test_standalone_schema_validates_values_like_the_design() -> None:
    with API("standalone") as api:
        pass
    with Type("Item") as item_t:
        Attribute("qty", Int32, minimum=1)
        Attribute("sku", String, pattern="^[a-z]+$")
        Attribute("sub", "Item")
        Required("qty", "sku")
    api.finalize()
    schema = json_schema(item_t)
    assert schema["$schema"] == DIALECT
    assert schema["$ref"] == "#/$defs/Item"
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid({"qty": 1, "sku": "a", "sub": {"qty": 2, "sku": "b"}})
    assert not v.is_valid({"qty": 0, "sku": "a"})
    assert not v.is_valid({"qty": 2**31, "sku": "a"})  # beyond Int32
    assert not v.is_valid({"qty": 1, "sku": "a", "sub": {"qty": 1, "sku": "B"}})
    assert not v.is_valid({"sku": "a"})


def test_defaults_that_are_not_json_raise_a_design_error() -> None:
    with API("bad_default") as api:
        pass
    with Type("T"):
        Attribute("blob", AnyType, default=object())
    with pytest.raises(DesignError, match="'blob': default"):
        checked(api)
