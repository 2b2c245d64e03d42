"""`Collector` names every invalid field of a value, where msgspec stops at the first."""

from __future__ import annotations

import typing

from bastion.dsl import *
from bastion.dsl.expr import AttributeExpr
from bastion.schema.compile import TypeCompiler
from bastion.schema.validate import Collector, FieldError, strip_location


def collector_for(name: str = "T") -> tuple[Collector, AttributeExpr]:
    api = current_design()
    assert api is not None
    compiler = TypeCompiler(api)
    return Collector(compiler), api.types[name].attribute


def collect(value: typing.Any, name: str = "T", **kw: typing.Any) -> list[tuple[str, str]]:
    collector, attr = collector_for(name)
    out: list[FieldError] = []
    collector.object(value, attr, "", "body", out, **kw)
    return [(e.field, e.message) for e in out]


def order_design() -> None:
    with API("a"):
        pass
    with Type("Line"):
        Attribute("sku", String, pattern="^[A-Z]{3}$")
        Attribute("qty", Int, minimum=1)
        Required("sku", "qty")
    with Type("Order"):
        Attribute("id", String, format=UUID)
        Attribute("email", String, format=Email)
        Attribute("kind", String, enum=["retail", "wholesale"])
        Attribute("amount", Float64, minimum=0, exclusive_maximum=1000)
        Attribute("note", String, min_length=2, max_length=5)
        Attribute("lines", ArrayOf("Line"), min_length=1)
        Attribute("labels", MapOf(String, Int, maximum=9))
        Attribute("paid", Boolean)
        Required("id", "kind", "amount", "lines")


def test_every_bad_field_is_named_with_its_reason() -> None:
    order_design()
    errors = collect({
        "email": "not-an-email",
        "kind": "gift",
        "amount": -1,
        "note": "way too long",
        "lines": [{"sku": "abc", "qty": 0}, {"qty": "2"}, "x"],
        "labels": {"a": 10, "b": 1},
        "paid": "yes",
    }, "Order")
    assert errors == [
        ("id", "missing required field"),
        ("email", "Expected `str` formatted as an email address"),
        ("kind", "Invalid enum value 'gift'"),
        ("amount", "Expected `float` >= 0.0"),
        ("note", "Expected `str` of length <= 5"),
        ("lines[0].sku", "Expected `str` matching regex '^[A-Z]{3}$'"),
        ("lines[0].qty", "Expected `int` >= 1"),
        ("lines[1].sku", "missing required field"),
        ("lines[1].qty", "Expected `int`, got `str`"),
        ("lines[2]", "Expected `object`, got `str`"),
        ("labels.a", "Expected `int` <= 9"),
        ("paid", "Expected `bool`, got `str`"),
    ]


def test_a_valid_value_has_no_errors() -> None:
    order_design()
    assert collect({
        "id": "123e4567-e89b-12d3-a456-426614174000",
        "kind": "retail",
        "amount": 0,
        "lines": [{"sku": "ABC", "qty": 1}],
        "labels": {"x": 9},
        "note": None,
    }, "Order") == []


def test_format_errors_name_the_format_not_its_regex() -> None:
    with API("a"):
        pass
    with Type("T"):
        for fmt in (UUID, Email, Date, DateTime, URI, IPv4, IPv6, Hostname, Regexp):
            Attribute(fmt, String, format=fmt)
    errors = collect({fmt: "(" for fmt in (UUID, Email, Date, DateTime, URI, IPv4, IPv6,
                                           Hostname, Regexp)})
    assert [f for f, _ in errors] == [
        "uuid", "email", "date", "date-time", "uri", "ipv4", "ipv6", "hostname", "regexp",
    ]
    for field, message in errors:
        assert message.startswith("Expected `str` formatted as "), (field, message)
        assert "regex" not in message


def test_null_for_a_required_field_and_non_object_values() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("a", String)
        Attribute("b", String)
        Required("a")
    assert collect({"a": None}) == [("a", "Expected a value, got `null`")]
    assert collect([1, 2]) == [("body", "Expected `object`, got `array`")]
    assert collect(None) == [("body", "Expected `object`, got `null`")]


def test_arrays_and_maps_check_their_lengths() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("xs", ArrayOf(Int), min_length=2, max_length=3)
        Attribute("m", MapOf(String, String), max_length=1)
    assert collect({"xs": [1], "m": {"a": "1", "b": "2"}}) == [
        ("xs", "Expected `array` of length >= 2"),
        ("m", "Expected `object` of length <= 1"),
    ]
    assert collect({"xs": [1, 2, 3, 4]}) == [("xs", "Expected `array` of length <= 3")]
    assert collect({"xs": "12"}) == [("xs", "Expected `array`, got `str`")]


def test_skip_required_and_only() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("token", String)
        Attribute("id", Int)
        Attribute("name", String)
        Required("token", "id", "name")
    assert collect({}, skip_required=frozenset({"token"}), only=frozenset({"token", "id"})) == [
        ("id", "missing required field"),
    ]


def test_lax_mode_converts_strings_from_parameters() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("n", Int, maximum=5)
        Attribute("b", Boolean)
    assert collect({"n": "3", "b": "true"}, strict=False) == []
    assert collect({"n": "6", "b": "maybe"}, strict=False) == [
        ("n", "Expected `int` <= 5"),
        ("b", "Expected `bool`, got `str`"),
    ]
    assert collect({"n": "3"}) == [("n", "Expected `int`, got `str`")]


def test_nested_paths_use_the_path_prefix_and_where() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("n", Int)
    collector, attr = collector_for()
    out: list[FieldError] = []
    collector.object({"n": "x"}, attr, "order", "query", out)
    assert out == [FieldError("order.n", "Expected `int`, got `str`", "query")]
    assert out[0].to_json() == {"field": "order.n", "in": "query",
                                "message": "Expected `int`, got `str`"}


def test_strip_location() -> None:
    assert strip_location("Expected `int`, got `str` - at `$.a[0].b`") == \
        "Expected `int`, got `str`"
    assert strip_location("Object missing required field `id`") == \
        "Object missing required field `id`"
