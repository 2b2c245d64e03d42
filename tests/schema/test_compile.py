"""Design types compile into msgspec Structs that validate everything the design states."""

from __future__ import annotations

import typing

import msgspec
import pytest

from bastion.dsl import *
from bastion.schema.compile import TypeCompiler, py_name
from bastion.schema.formats import FormattedStr, dec_hook, enc_hook


def decode(cls: typing.Any, data: object) -> typing.Any:
    return msgspec.json.decode(msgspec.json.encode(data), type=cls, dec_hook=dec_hook)


def problem(cls: typing.Any, data: object) -> str:
    with pytest.raises(msgspec.ValidationError) as info:
        decode(cls, data)
    return str(info.value)


def compile_type(name: str = "T") -> tuple[TypeCompiler, type[msgspec.Struct]]:
    api = current_design()
    assert api is not None
    compiler = TypeCompiler(api)
    return compiler, compiler.struct(api.types[name])


def test_user_type_becomes_a_struct_with_required_and_optional_fields() -> None:
    with API("a"):
        pass
    with Type("Order"):
        Attribute("id", String)
        Attribute("amount", Float64)
        Attribute("note", String)
        Required("id", "amount")
    _, order = compile_type("Order")
    assert issubclass(order, msgspec.Struct)
    assert order.__name__ == "Order"
    value = decode(order, {"id": "x", "amount": 2})
    assert (value.id, value.amount, value.note) == ("x", 2.0, None)
    assert problem(order, {"amount": 1}) == "Object missing required field `id`"
    assert problem(order, {"id": 1, "amount": 1}) == "Expected `str`, got `int` - at `$.id`"
    # Optional attributes may be null; required ones may not.
    assert decode(order, {"id": "x", "amount": 1, "note": None}).note is None
    assert problem(order, {"id": None, "amount": 1}) == "Expected `str`, got `null` - at `$.id`"


@pytest.mark.parametrize(
    ("type_", "options", "good", "bad", "message"),
    [
        (String, {"enum": ["a", "b"]}, "a", "c", "Invalid enum value 'c'"),
        (Int, {"enum": [1, 2]}, 2, 3, "Invalid enum value 3"),
        (String, {"pattern": "^[a-z]+$"}, "abc", "ABC", "Expected `str` matching regex"),
        (String, {"min_length": 2}, "ab", "a", "Expected `str` of length >= 2"),
        (String, {"max_length": 2}, "ab", "abc", "Expected `str` of length <= 2"),
        (Int, {"minimum": 1}, 1, 0, "Expected `int` >= 1"),
        (Int, {"maximum": 1}, 1, 2, "Expected `int` <= 1"),
        (Int, {"exclusive_minimum": 1}, 2, 1, "Expected `int`"),
        (Int, {"exclusive_maximum": 1}, 0, 1, "Expected `int`"),
        (Float64, {"minimum": 0.5}, 0.5, 0.4, "Expected `float` >= 0.5"),
        (Float64, {"exclusive_maximum": 1}, 0.9, 1.0, "Expected `float` < 1"),
        (Bytes, {"max_length": 2}, "aGk=", "aGk6KQ==", "Expected `bytes` of length <= 2"),
        (ArrayOf(Int), {"min_length": 1}, [1], [], "Expected `array` of length >= 1"),
        (ArrayOf(Int), {"max_length": 1}, [1], [1, 2], "Expected `array` of length <= 1"),
        (MapOf(String, Int), {"max_length": 1}, {"a": 1}, {"a": 1, "b": 2},
         "Expected `object` of length <= 1"),
        (String, {"format": UUID}, "123e4567-e89b-12d3-a456-426614174000", "123",
         "Expected `str`"),
        (String, {"format": IPv6}, "::1", "1.2.3.4", "Expected `str` formatted as an IPv6"),
        (String, {"format": Email, "max_length": 8}, "a@b.co", "abcd@b.co",
         "Expected `str` of length <= 8"),
        (Boolean, {}, True, "true", "got `str`"),
        (Int, {}, 1, 1.5, "got `float`"),
    ],
)
def test_each_validation_kind(
    type_: object, options: dict[str, typing.Any], good: object, bad: object, message: str
) -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("x", type_, **options)  # type: ignore[arg-type]
    _, t = compile_type()
    assert decode(t, {"x": good}).x is not None
    assert message in problem(t, {"x": bad})


@pytest.mark.parametrize(
    ("type_", "low", "high"),
    [
        (Int32, -(2**31), 2**31 - 1),
        (UInt32, 0, 2**32 - 1),
        (Int64, -(2**63), 2**63 - 1),
        (UInt, 0, 2**64 - 1),
        (UInt64, 0, 2**64 - 1),
    ],
)
def test_integer_types_are_checked_against_their_wire_width(type_: object, low: int, high: int
                                                             ) -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("x", type_)  # type: ignore[arg-type]
    _, t = compile_type()
    assert decode(t, {"x": low}).x == low
    assert decode(t, {"x": high}).x == high
    assert problem(t, {"x": low - 1})
    assert problem(t, {"x": high + 1})


def test_user_bounds_tighter_than_the_wire_width_win() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("x", UInt32, minimum=10, maximum=2**40)
    _, t = compile_type()
    assert "Expected `int` >= 10" in problem(t, {"x": 9})
    assert f"Expected `int` <= {2**32 - 1}" in problem(t, {"x": 2**32})


def test_element_and_value_validations_apply_inside_collections() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("ids", ArrayOf(String, format=UUID))
        Attribute("counts", MapOf(String, Int, minimum=0))
        Attribute("by_id", MapOf(Int, String))
    _, t = compile_type()
    good = "123e4567-e89b-12d3-a456-426614174000"
    value = decode(t, {"ids": [good], "counts": {"a": 0}, "by_id": {"7": "x"}})
    assert value.ids == [good] and value.counts == {"a": 0} and value.by_id == {7: "x"}
    assert problem(t, {"ids": [good, "x"]}).endswith(" - at `$.ids[1]`")
    assert "Expected `int` >= 0 - at `$.counts[...]`" in problem(t, {"counts": {"a": -1}})
    assert "Expected `int`" in problem(t, {"by_id": {"x": "y"}})


def test_defaults_fill_missing_attributes_and_are_not_shared() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("page", Int, default=1)
        Attribute("tags", ArrayOf(String), default=["new"])
        Attribute("flag", Boolean, default=False)
    _, t = compile_type()
    first = decode(t, {})
    second = decode(t, {})
    assert (first.page, first.tags, first.flag) == (1, ["new"], False)
    first.tags.append("changed")
    assert second.tags == ["new"]
    assert decode(t, {}).tags == ["new"]
    assert decode(t, {"page": 3}).page == 3


def test_wire_names_that_are_not_identifiers_are_kept_on_the_wire() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("first-name", String)
        Attribute("class", String)
        Attribute("2fa", Boolean)
        Required("first-name")
    _, t = compile_type()
    value = decode(t, {"first-name": "Ada", "class": "x", "2fa": True})
    assert (value.first_name, value.class_, value._2fa) == ("Ada", "x", True)
    assert msgspec.json.decode(msgspec.json.encode(value)) == {
        "first-name": "Ada", "class": "x", "2fa": True,
    }
    assert problem(t, {}) == "Object missing required field `first-name`"


@pytest.mark.parametrize(
    ("name", "ident"),
    [("id", "id"), ("first-name", "first_name"), ("class", "class_"), ("2fa", "_2fa"),
     ("a.b", "a_b"), ("", "_")],
)
def test_py_name(name: str, ident: str) -> None:
    assert py_name(name) == ident


def test_recursive_types_decode_to_any_depth() -> None:
    with API("a"):
        pass
    with Type("Node"):
        Attribute("name", String)
        Attribute("children", ArrayOf("Node"))
        Attribute("parent", "Node")
        Required("name")
    _, node = compile_type("Node")
    value = decode(node, {"name": "root", "children": [{"name": "a", "children": [{"name": "b"}]}],
                          "parent": {"name": "up"}})
    assert value.children[0].children[0].name == "b"
    assert value.parent.name == "up"
    assert type(value.children[0].children[0]) is node
    assert type(value) is node
    assert "Object missing required field `name` - at `$.children[0].children[0]`" in problem(
        node, {"name": "r", "children": [{"name": "a", "children": [{}]}]}
    )


def test_mutually_recursive_types() -> None:
    with API("a"):
        pass
    with Type("Person"):
        Attribute("name", String)
        Attribute("pets", ArrayOf("Pet"))
    with Type("Pet"):
        Attribute("owner", "Person")
        Attribute("age", Int, minimum=0)
    _, person = compile_type("Person")
    value = decode(person, {"name": "a", "pets": [{"owner": {"name": "b"}, "age": 2}]})
    assert value.pets[0].owner.name == "b"
    assert "at `$.pets[0].age`" in problem(person, {"pets": [{"age": -1}]})


def test_nested_inline_objects_become_structs() -> None:
    with API("a"):
        pass
    with Type("T"), Attribute("address"):
        Attribute("city", String)
        Required("city")
    _, t = compile_type()
    value = decode(t, {"address": {"city": "Paris"}})
    assert value.address.city == "Paris"
    assert isinstance(value.address, msgspec.Struct)
    assert "Object missing required field `city` - at `$.address`" in problem(t, {"address": {}})


def test_any_accepts_every_json_value() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("x", Any)
    _, t = compile_type()
    for v in (1, "s", [1, {"a": None}], {"k": 1.5}, True):
        assert decode(t, {"x": v}).x == v


def test_formatted_strings_are_plain_strings_to_users_and_on_the_wire() -> None:
    with API("a"):
        pass
    with Type("T"):
        Attribute("email", String, format=Email)
        Attribute("addr", String, format=IPv6)
    _, t = compile_type()
    value = decode(t, {"email": "a@b.co", "addr": "::1"})
    assert isinstance(value.email, str) and value.email == "a@b.co"
    # Formats msgspec cannot check by regex are str subclasses checked by a hook.
    assert isinstance(value.addr, FormattedStr) and value.addr == "::1"
    assert msgspec.json.encode(value, enc_hook=enc_hook) == b'{"email":"a@b.co","addr":"::1"}'


def test_object_struct_keeps_only_and_relaxes_optional() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("m") as m, Payload():
        Attribute("id", Int)
        Attribute("token", String)
        Attribute("name", String)
        Required("id", "token", "name")
    compiler = TypeCompiler(api)
    assert m.payload is not None
    body = compiler.object_struct("Body", m.payload, only=["id", "token"], optional=["token"])
    assert set(body.__struct_fields__) == {"id", "token"}
    assert decode(body, {"id": 1}).token is None
    assert problem(body, {"token": "t"}) == "Object missing required field `id`"
    again = compiler.object_struct("Body", m.payload)
    assert again is not body and again.__name__ == "Body2"


def test_two_compilers_never_share_classes() -> None:
    with API("orders") as api:
        pass
    with Type("Order"):
        Attribute("id", Int)
    first = TypeCompiler(api)
    second = TypeCompiler(api)
    assert first.module.__name__ != second.module.__name__
    a, b = first.struct(api.types["Order"]), second.struct(api.types["Order"])
    assert a is not b
    assert a.__module__ == first.module.__name__
    assert first.struct(api.types["Order"]) is a  # one class per type per compiler


def test_annotation_and_resolve_for_non_object_values() -> None:
    with API("a") as api:
        pass
    with Type("Item"):
        Attribute("n", Int)
        Required("n")
    with Service("s"), Method("m") as m:
        Payload(ArrayOf("Item"))
    compiler = TypeCompiler(api)
    assert m.payload is not None
    ann = compiler.resolve(compiler.annotation(m.payload))
    items = msgspec.json.decode(b'[{"n": 1}]', type=ann, dec_hook=dec_hook)
    assert items[0].n == 1
    with pytest.raises(msgspec.ValidationError, match="missing required field `n`"):
        msgspec.json.decode(b"[{}]", type=ann, dec_hook=dec_hook)


def test_generated_modules_leave_sys_modules_and_recursive_types_still_work() -> None:
    import sys

    with API("tree") as api:
        pass
    with Type("Node"):
        Attribute("name", String)
        Attribute("children", ArrayOf("Node"))
        Required("name")
    before = {n for n in sys.modules if n.startswith("bastion._generated")}
    compiler = TypeCompiler(api)
    node = compiler.struct(api.types["Node"])
    ann = compiler.resolve(compiler.annotation(api.types["Node"].attribute))
    assert {n for n in sys.modules if n.startswith("bastion._generated")} == before
    # msgspec resolved the forward reference while the module was registered: decoding,
    # converting and new decoders work without it.
    tree = decode(node, {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]})
    assert tree.children[0].children[0].name == "c"
    assert msgspec.convert({"name": "x", "children": [{"name": "y"}]}, ann).children[0].name == "y"
    assert msgspec.json.Decoder(list[node]).decode(b'[{"name": "z"}]')[0].name == "z"


def test_two_apps_leave_nothing_generated_behind() -> None:
    import sys

    import bastion

    with API("one") as api:
        pass
    with Type("Item"):
        Attribute("next", "Item")
        Attribute("n", Int)
    with Service("s"), Method("m"):
        Payload("Item")
        Result("Item")
        with HTTP():
            POST("/m")

    class Impl:
        async def m(self, p: typing.Any) -> typing.Any:
            return p

    first = bastion.App(api, {"s": Impl()}, observe=False)
    second = bastion.App(api, {"s": Impl()}, observe=False)
    assert not [n for n in sys.modules if n.startswith("bastion._generated")]
    a = first.operations[("s", "m")]
    b = second.operations[("s", "m")]
    assert a.payload_type is not b.payload_type
