"""Goa's type DSL: result types and views, collections, Extend/Reference, named types,
OneOf, Empty, Meta; each used wrongly is a `DesignError` naming its file:line."""

from __future__ import annotations

import pytest

from bastion.dsl import *
from bastion.dsl.expr import (
    ArrayExpr,
    ObjectExpr,
    Primitive,
    ResultTypeExpr,
    UnionExpr,
    UserTypeExpr,
)
from tests.support.lines import next_line


def finalize_error(api: APIExpr) -> str:
    with pytest.raises(DesignError) as info:
        api.finalize()
    return str(info.value)


def at(line: int) -> str:
    return f"{__file__}:{line}: "


def bottle_design() -> tuple[APIExpr, ResultTypeExpr]:
    """The cellar's result types: a StoredBottle with views, its Winery in view `tiny`."""
    with API("cellar") as api:
        pass
    with Type("Bottle") as bottle:
        Attribute("name", String, "Name of bottle", max_length=100)
        Attribute("vintage", UInt32, minimum=1900, maximum=2020)
        Required("name", "vintage")
    with ResultType("application/vnd.cellar.winery", "Winery") as winery:
        with Attributes():
            Attribute("name", String)
            Attribute("region", String)
        with View("default"):
            Attribute("name")
            Attribute("region")
        with View("tiny"):
            Attribute("name")
        Required("name", "region")
    with ResultType("application/vnd.cellar.stored-bottle") as stored:
        Description("A stored bottle.")
        Reference(bottle)
        TypeName("StoredBottle")
        with Attributes():
            Attribute("id", String, "ID of the bottle.")
            Attribute("name")
            Attribute("winery", winery)
            Attribute("vintage")
        with View("default"):
            Attribute("id")
            Attribute("name")
            with Attribute("winery"):
                View("tiny")
            Attribute("vintage")
        with View("tiny"):
            Attribute("id")
            Attribute("name")
        Required("id", "name", "vintage")
    return api, stored


def test_result_type_records_identifier_views_and_type_name() -> None:
    api, stored = bottle_design()
    assert isinstance(stored, ResultTypeExpr)
    assert stored.identifier == "application/vnd.cellar.stored-bottle"
    assert stored.name == "StoredBottle" and "StoredBottle" in api.types
    assert list(stored.views) == ["default", "tiny"]
    assert stored.views["default"].attributes["winery"].view == "tiny"


def test_result_type_name_comes_from_the_identifier_as_goa_derives_it() -> None:
    with API("a") as api:
        pass
    with ResultType("application/vnd.goa.example.bottle+json; type=x") as rt, Attributes():
        Attribute("id", String)
    assert rt.name == "GoaExampleBottle" and list(api.types) == ["GoaExampleBottle"]


def test_reference_gives_attributes_named_alone_their_definition() -> None:
    api, stored = bottle_design()
    api.finalize()
    attrs = stored.object.attributes
    assert attrs["name"].type is String and attrs["name"].max_length == 100
    assert attrs["name"].description == "Name of bottle"
    assert attrs["vintage"].type is UInt32
    assert (attrs["vintage"].minimum, attrs["vintage"].maximum) == (1900, 2020)
    assert attrs["id"].description == "ID of the bottle."  # its own, kept


def test_a_method_result_is_rendered_in_its_views_as_plain_types() -> None:
    api, stored = bottle_design()
    with Service("storage"):
        with Method("show") as show:
            with Payload():
                Attribute("id", String)
                Attribute("view", String, enum=["default", "tiny"])
            Result(stored)
        with Method("list") as listing, Result(CollectionOf(stored)):
            View("tiny")
    api.finalize()
    # `show` picks its view at run time: every view is a type of its own.
    assert list(show.result_views) == ["default", "tiny"]
    tiny = show.result_views["tiny"].type
    assert isinstance(tiny, UserTypeExpr) and tiny.name == "StoredBottleTiny"
    assert list(tiny.object.attributes) == ["id", "name"]
    assert tiny.object.required == ["id", "name"]  # the type's Required, within the view
    default = show.result.type
    assert isinstance(default, UserTypeExpr)
    assert list(default.object.attributes) == ["id", "name", "winery", "vintage"]
    # A nested result type is rendered in the view the parent's view names.
    winery = default.object.attributes["winery"].type
    assert isinstance(winery, UserTypeExpr) and winery.name == "WineryTiny"
    assert list(winery.object.attributes) == ["name"]
    # `list` fixes its view: one type, an array of tiny bottles.
    assert listing.result_views == {}
    arr = listing.result.type
    assert isinstance(arr, ArrayExpr) and arr.elem.type is tiny


def test_a_result_type_without_views_gets_a_default_one_and_is_not_copied() -> None:
    with API("a") as api:
        pass
    with ResultType("application/vnd.plain") as plain, Attributes():
        Attribute("id", String)
    with Service("s"), Method("m") as m:
        Result(plain)
    api.finalize()
    assert list(plain.views) == ["default"]
    assert m.result.type is plain and m.result_views == {}


def test_views_used_wrongly_name_their_line() -> None:
    with API("a") as api:
        pass
    with ResultType("application/vnd.r") as rt:
        with Attributes():
            Attribute("id", String)
            Attribute("n", Int)
        with View("default"):
            l_unknown = next_line()
            Attribute("nope")
        with View("other"):
            l_nested = next_line()
            with Attribute("n"):
                View("tiny")
        l_empty = next_line()
        View("empty")
    with Service("s"), Method("m"):
        l_result = next_line()
        Result(rt, view="missing")
    message = finalize_error(api)
    assert at(l_unknown) + "view 'default' of result type 'R': 'nope' is not one of its " \
        "attributes (id, n)" in message
    assert at(l_nested + 1) + "view 'other' of result type 'R', attribute 'n': " \
        "View('tiny') applies to result types only" in message
    assert at(l_empty) + "view 'empty' of result type 'R' lists no attribute" in message
    del l_result  # the unknown view of the result is reported once the views are right


def test_result_view_must_exist_and_needs_a_result_type() -> None:
    with API("a") as api:
        pass
    with ResultType("application/vnd.r") as rt, Attributes():
        Attribute("id", String)
    with Service("s"):
        with Method("m"):
            line = next_line()
            Result(rt, view="missing")
        with Method("plain"), Result(String):
            l_plain = next_line()
            View("tiny")
    message = finalize_error(api)
    assert at(line) + "result of method 'm' of service 's': result type 'R' has no view " \
        "'missing' (views: default)" in message
    assert at(l_plain) + "result of method 'plain' of service 's': View('tiny') applies to " \
        "result types only" in message


def test_a_payload_view_attribute_must_name_views() -> None:
    api, stored = bottle_design()
    with Service("s"), Method("show"):
        with Payload():
            line = next_line()
            Attribute("view", String)
        Result(stored)
    assert at(line) + "method 'show' of service 's': payload attribute 'view' picks the " \
        "result's view, so it needs enum= of view names (default, tiny)" in finalize_error(api)


def test_dsl_misuse_of_result_types_fails_at_the_call() -> None:
    with API("a"):
        pass
    with pytest.raises(DesignError) as bad_id:
        line = next_line()
        ResultType("not a media type")
    assert str(bad_id.value) == (f"{at(line)}result type identifier 'not a media type' is not "
                                 "a media type such as 'application/vnd.goa.bottle'")
    with ResultType("application/vnd.twice"), pytest.raises(DesignError) as twice:
        View("v")
        line = next_line()
        View("v")
    assert "view 'v' of result type 'Twice' is declared twice" in str(twice.value)
    assert at(line) in str(twice.value)
    with pytest.raises(DesignError) as coll:
        line = next_line()
        CollectionOf(String)
    assert str(coll.value).startswith(at(line) + "CollectionOf needs a result type")
    with Service("s"), pytest.raises(DesignError) as view:
        line = next_line()
        View("x")
    assert str(view.value).startswith(at(line) + "View must be called inside a ResultType")
    with Type("T"), pytest.raises(DesignError) as name:
        TypeName("not an identifier")
    assert "TypeName 'not an identifier' must be an identifier" in str(name.value)


def test_extend_adds_attributes_and_their_required_names() -> None:
    with API("a") as api:
        pass
    with Type("Create") as create:
        Attribute("name", String, min_length=3)
        Attribute("vintage", Int32)
        Required("name")
    with Type("Update") as update:
        Attribute("id", String)
        Extend(create)
        Required("id")
    api.finalize()
    obj = update.object
    assert list(obj.attributes) == ["id", "name", "vintage"]
    assert obj.attributes["name"].min_length == 3
    assert obj.required == ["id", "name"]
    assert obj.attributes["name"] is not create.object.attributes["name"]  # a copy


def test_extend_needs_an_object_and_cycles_are_refused() -> None:
    with API("a") as api:
        pass
    with Type("A") as a:
        Attribute("x", String)
        line = next_line()
        Extend("B")
    with Type("B"):
        Extend(a)
    with Type("C"):
        l_prim = next_line()
        Extend(String)
    message = finalize_error(api)
    assert at(line) + "type 'A': Extend or Reference makes a cycle" in message
    assert at(l_prim) + "type 'C': Extend needs an object type, not String" in message


def test_named_primitive_types_are_used_like_what_they_name() -> None:
    with API("a") as api:
        pass
    uuid = Type("UUID", String, "An identifier.", format=UUID)
    ids = Type("IDs", ArrayOf(uuid), max_length=10)
    with Type("Order") as order:
        Attribute("id", uuid)
        Attribute("tags", ids)
        Attribute("other", "UUID", "Its own words.", min_length=36)
    api.finalize()
    attrs = order.object.attributes
    assert attrs["id"].type is String and attrs["id"].format == "uuid"
    assert attrs["id"].description == "An identifier."
    assert isinstance(attrs["tags"].type, ArrayExpr) and attrs["tags"].max_length == 10
    assert attrs["tags"].type.elem.format == "uuid"
    assert attrs["other"].description == "Its own words." and attrs["other"].min_length == 36
    assert attrs["other"].format == "uuid"


def test_named_type_validations_need_a_base_type() -> None:
    with API("a"), pytest.raises(DesignError) as info:
        line = next_line()
        Type("Bad", min_length=3)
    assert str(info.value) == (f"{at(line)}type 'Bad': validations need a base type, as in "
                               "Type('Bad', String, ...)")


def test_one_of_records_alternatives_and_needs_some() -> None:
    with API("a") as api:
        pass
    with Type("Cat") as cat:
        Attribute("name", String)
    with Type("Pet") as pet:
        with OneOf("pet", "Cats or IDs"):
            Attribute("cat", cat)
            Attribute("id", String)
        line = next_line()
        with OneOf("none"):
            pass
    union = pet.object.attributes["pet"].type
    assert isinstance(union, UnionExpr) and list(union.alternatives) == ["cat", "id"]
    assert pet.object.attributes["pet"].description == "Cats or IDs"
    assert at(line) + "type 'Pet': OneOf 'none' declares no alternative" in finalize_error(api)
    with Type("P2"), OneOf("x"), pytest.raises(DesignError, match="needs a type"):
        Attribute("untyped")


def test_empty_payload_and_result_mean_none() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("m") as m:
        Payload(Empty)
        Result(Empty)
    api.finalize()
    assert m.payload is None and m.result is None


def test_meta_accumulates_values_and_its_keys_are_checked() -> None:
    with API("a") as api:
        Meta("openapi:summary", "Everything")
    with Type("T") as t:
        with Attribute("ssn", String):
            Meta("struct:tag:json", "SSN,omitempty")
            Meta("struct:field:name", "social")
        with Attribute("x", String):
            Meta("tag", "a")
            Meta("tag", "b")
    api.finalize()
    assert api.meta == {"openapi:summary": ["Everything"]}
    ssn = t.object.attributes["ssn"]
    assert (ssn.wire_name, ssn.field_name) == ("SSN", "social")
    assert t.object.attributes["x"].meta == {"tag": ["a", "b"]}
    with API("b") as bad:
        pass
    with Type("U"):
        l_field = next_line()
        with Attribute("a", String):
            Meta("struct:field:name", "not-ok")
        l_err = next_line()
        with Attribute("b", Int):
            Meta("struct:error:name")
        with Attribute("c", String):
            Meta("struct:tag:json", "same")
        l_same = next_line()
        with Attribute("d", String):
            Meta("struct:tag:json", "same")
    message = finalize_error(bad)
    assert at(l_field) + "type 'U', attribute 'a': Meta('struct:field:name', 'not-ok') must " \
        "be a Python identifier" in message
    assert at(l_err) + "type 'U', attribute 'b': Meta('struct:error:name') marks the " \
        "attribute naming the error: it must be a String" in message
    assert at(l_same) + "type 'U': attributes 'c' and 'd' have the same JSON name " \
        "'same'" in message
    with Type("V"), pytest.raises(DesignError, match="values must be strings"):
        Meta("k", 1)  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="Meta must be called inside API, Service"):
        Meta("k", "v")


def test_error_result_and_typed_errors() -> None:
    with API("a") as api:
        pass
    with Type("DivByZero") as div:
        Attribute("message", String)
    with Service("calc"):
        Error("timeout", ErrorResult, timeout=True)
        with Method("divide") as m:
            Error("div_by_zero", div)
            Error("unauthorized", String)
    api.finalize()
    errors = {e.name: e for e in m.all_errors()}
    assert not errors["timeout"].typed
    assert errors["div_by_zero"].typed and errors["unauthorized"].typed
    assert isinstance(errors["unauthorized"].type, Primitive)


def test_collection_of_keeps_one_expression_per_element_and_view() -> None:
    _, stored = bottle_design()
    assert CollectionOf(stored) is CollectionOf(stored)
    assert CollectionOf(stored, view="tiny") is not CollectionOf(stored)
    assert CollectionOf(stored).name == "StoredBottleCollection"
    assert isinstance(CollectionOf(stored).attribute.type, ArrayExpr)
    assert isinstance(stored.attribute.type, ObjectExpr)
