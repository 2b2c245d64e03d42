"""A bad design raises `DesignError` naming the element, the problem and the user's file:line.

Problems found when the design is checked (`finalize`, run by `App`) are collected into
one error; misuse of the DSL itself (a call in the wrong block) raises at the call.
"""

from __future__ import annotations

import re

import pytest

import bastion
from bastion.dsl import *
from bastion.errors import BastionError
from tests.dsl.support import finalize_error
from tests.support.lines import at, next_line


def test_design_error_is_a_value_error_and_a_bastion_error() -> None:
    assert issubclass(DesignError, ValueError)
    assert issubclass(DesignError, BastionError)


# ---------------------------------------------------------------------------- the cases


def test_path_parameter_that_is_not_an_attribute() -> None:
    with API("a") as api:
        pass
    with Service("orders"):
        with Method("show"):
            with Payload():
                Attribute("order_id", String)
            with HTTP():
                line = next_line()
                GET("/orders/{id}")
    message = finalize_error(api)
    assert at(line) in message
    assert "method 'show' of service 'orders'" in message
    assert "path parameter 'id' is not a payload attribute (attributes: order_id)" in message


def test_path_parameter_of_a_method_without_payload() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with HTTP():
                line = next_line()
                DELETE("/things/{*rest}")
    message = finalize_error(api)
    assert message == (
        f"{__file__}:{line}: method 'm' of service 's': path parameter 'rest' is not a "
        "payload attribute (attributes: none)"
    )


def test_required_name_that_does_not_exist() -> None:
    with API("a") as api:
        pass
    with Type("Order"):
        Attribute("id", String)
        line = next_line()
        Required("id", "amount")
    message = finalize_error(api)
    assert message == (
        f"{__file__}:{line}: type 'Order': Required names 'amount', which is not an attribute "
        "(attributes: id)"
    )


def test_required_unknown_name_in_an_inline_payload() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("create"):
            with Payload():
                Attribute("name", String)
                line = next_line()
                Required("nmae")
    message = finalize_error(api)
    assert at(line) in message
    assert "payload of method 'create' of service 's'" in message
    assert "Required names 'nmae'" in message


def test_error_mapped_twice_in_one_http_block() -> None:
    # An error may have several Responses when all but one carry a Tag (set inside their
    # blocks): two without one are found when the design is finalized.
    with API("a") as api:
        pass
    with Service("s"):
        Error("not_found")
        with HTTP():
            first = next_line()
            Response("not_found", StatusNotFound)
            line = next_line()
            Response("not_found", StatusGone)
    assert finalize_error(api) == (
        f"{__file__}:{line}: error 'not_found' is mapped twice (first at {__file__}:{first}); "
        "give all but one a Tag"
    )


def test_two_routes_that_collide() -> None:
    with API("a") as api:
        pass
    with Service("orders"):
        with Method("show"):
            with Payload():
                Attribute("id", String)
            with HTTP():
                first = next_line()
                GET("/orders/{id}")
    with Service("archive"):
        with Method("find"):
            with Payload():
                Attribute("key", String)
            with HTTP():
                line = next_line()
                GET("/orders/{key}/")
    message = finalize_error(api)
    assert message == (
        f"{__file__}:{line}: method 'find' of service 'archive': route GET /orders/{{key}} "
        f"collides with a route of method 'show' of service 'orders' (at {__file__}:{first})"
    )


def test_routes_collide_across_a_service_prefix() -> None:
    with API("a") as api:
        pass
    with Service("v1"):
        with HTTP():
            Path("/v1")
        with Method("ping"):
            with HTTP():
                GET("/ping")
    with Service("root"):
        with Method("ping"):
            with HTTP():
                line = next_line()
                GET("/v1/ping")
    message = finalize_error(api)
    assert at(line) in message
    assert "route GET /v1/ping collides with a route of method 'ping' of service 'v1'" in message


def test_same_path_with_other_verbs_does_not_collide() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("show"):
            with Payload():
                Attribute("id", String)
            with HTTP():
                GET("/x/{id}")
        with Method("remove"):
            with Payload():
                Attribute("id", String)
            with HTTP():
                DELETE("/x/{id}")
    api.finalize()


def test_get_with_a_body() -> None:
    with API("a") as api:
        pass
    with Service("orders"):
        with Method("list"):
            with Payload():
                Attribute("page", Int)
                Attribute("filter", String)
            with HTTP():
                line = next_line()
                GET("/orders")
                Param("page")
    message = finalize_error(api)
    assert message == (
        f"{__file__}:{line}: method 'list' of service 'orders': GET /orders cannot have a body, "
        "but payload attribute(s) filter are not mapped to the path, a query Param, a Header or "
        "a Cookie"
    )


@pytest.mark.parametrize("verb", [GET, HEAD, DELETE, OPTIONS])
def test_bodyless_verbs_with_an_explicit_body(verb: object) -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("data", String)
            with HTTP():
                line = next_line()
                verb("/x")  # type: ignore[operator]
                Body("data")
    message = finalize_error(api)
    assert at(line) in message
    assert "/x cannot have a body" in message and "data" in message


def test_get_with_a_non_object_payload_has_a_body() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            Payload(ArrayOf(String))
            with HTTP():
                line = next_line()
                GET("/x")
    assert at(line) in finalize_error(api)


def test_every_problem_is_reported_in_one_error() -> None:
    with API("a") as api:
        pass
    with Type("T"):
        l_range = next_line()
        Attribute("n", Int, minimum=5, maximum=1)
        Attribute("s", String)
        l_required = next_line()
        Required("missing")
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("q", String)
            with HTTP():
                l_route = next_line()
                GET("/m/{id}")
    message = finalize_error(api)
    lines = message.splitlines()
    assert lines[0] == "4 problems in the design:"
    assert lines[1:] == [
        f"  {__file__}:{l_required}: type 'T': Required names 'missing', which is not an "
        "attribute (attributes: n, s)",
        f"  {__file__}:{l_range}: type 'T': attribute 'n' (Int): minimum 5 is above maximum 1",
        f"  {__file__}:{l_route}: method 'm' of service 's': path parameter 'id' is not a "
        "payload attribute (attributes: q)",
        f"  {__file__}:{l_route}: method 'm' of service 's': GET /m/{{id}} cannot have a body, "
        "but payload attribute(s) q are not mapped to the path, a query Param, a Header or a "
        "Cookie",
    ]


def test_unknown_type_names_are_all_reported() -> None:
    with API("a") as api:
        pass
    with Type("T"):
        l1 = next_line()
        Attribute("x", "Nope")
        l2 = next_line()
        Attribute("y", ArrayOf("Missing"))
    message = finalize_error(api)
    assert message.startswith("2 problems in the design:")
    assert f"{__file__}:{l1}: type 'T', attribute 'x': unknown type 'Nope' (declared types: T)" \
        in message
    assert f"{__file__}:{l2}: " in message and "unknown type 'Missing'" in message


def test_app_checks_the_design_when_it_is_loaded() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with HTTP():
                line = next_line()
                GET("/m/{id}")

    class Impl:
        async def m(self) -> None:
            return None

    with pytest.raises(DesignError) as info:
        bastion.App(api, services={"s": Impl()})
    assert at(line) in str(info.value)
    assert "path parameter 'id'" in str(info.value)


# ---------------------------------------------------------------------------- validations


@pytest.mark.parametrize(
    ("type_", "options", "problem"),
    [
        (Int, {"minimum": 5, "maximum": 1}, "minimum 5 is above maximum 1"),
        (String, {"min_length": 5, "max_length": 1}, "min_length is above max_length"),
        (String, {"minimum": 1}, "minimum applies to numbers only"),
        (Boolean, {"exclusive_maximum": 1}, "exclusive_maximum applies to numbers only"),
        (Int, {"min_length": 1}, "min_length needs a string, bytes, array or map"),
        (String, {"max_length": -1}, "max_length needs a string, bytes, array or map and a "
                                     "non-negative integer"),
        (Int, {"pattern": "^a$"}, "pattern applies to strings only"),
        (String, {"pattern": "("}, "pattern '(' is not a regexp"),
        (Int, {"format": UUID}, "format applies to strings only"),
        (String, {"format": "color"}, "unknown format 'color' (known: cidr, date, date-time, "
                                      "email, hostname, ip, ipv4, ipv6, json, mac, regexp, "
                                      "rfc1123, uri, uuid)"),
        (Float64, {"enum": [1.5]}, "enum applies to strings, integers and booleans"),
        (String, {"enum": []}, "enum needs at least one value"),
        (Int, {"enum": [1, "two"]}, "enum value 'two' is not a integer"),
        (Int, {"default": "one"}, "default 'one' is not a integer"),
        (String, {"enum": ["a", "b"], "default": "c"}, "default 'c' is not one of the enum"),
    ],
)
def test_invalid_validations(type_: object, options: dict[str, object], problem: str) -> None:
    with API("a") as api:
        pass
    with Type("T"):
        line = next_line()
        Attribute("x", type_, **options)  # type: ignore[arg-type]
    message = finalize_error(api)
    assert at(line) in message
    assert "type 'T': attribute 'x'" in message
    assert problem in message


def test_invalid_validation_on_array_elements() -> None:
    with API("a") as api:
        pass
    with Type("T"):
        line = next_line()
        Attribute("xs", ArrayOf(Int, pattern="^a"))
    message = finalize_error(api)
    assert at(line) in message
    assert "attribute 'elem' (Int): pattern applies to strings only" in message


def test_validations_on_an_attribute_of_a_user_type_are_checked() -> None:
    # Validations that cannot apply to an object must not be dropped silently, whether
    # the object is a named type or the element type of an array.
    with API("a") as api:
        pass
    with Type("Item"):
        Attribute("sku", String)
    with Type("T"):
        l_attr = next_line()
        Attribute("item", "Item", pattern="^a", min_length=1)
        l_elem = next_line()
        Attribute("items", ArrayOf("Item", maximum=3))
    message = finalize_error(api)
    assert f"{__file__}:{l_attr}: type 'T': attribute 'item' (Item): pattern applies to " \
        "strings only" in message
    assert f"{__file__}:{l_attr}: type 'T': attribute 'item' (Item): min_length needs" in message
    assert f"{__file__}:{l_elem}: type 'T': attribute 'elem' (Item): maximum applies to " \
        "numbers only" in message


# ---------------------------------------------------------------------------- HTTP mapping


def test_path_parameter_of_a_non_primitive_type() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("ids", ArrayOf(Int))
            with HTTP():
                line = next_line()
                GET("/m/{ids}")
    message = finalize_error(api)
    assert at(line) in message
    assert "path parameter 'ids' must be a primitive, not ArrayOf(Int)" in message


def test_malformed_path_segment_and_wildcard_not_last() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("id", String)
                Attribute("rest", String)
            with HTTP():
                l1 = next_line()
                GET("/m/file-{id}")
                l2 = next_line()
                POST("/m/{*rest}/{id}")
    message = finalize_error(api)
    assert f"{__file__}:{l1}: method 'm' of service 's': path segment 'file-{{id}}' must be " \
        "a whole '{name}' or '{*name}' segment" in message
    assert f"{__file__}:{l2}: method 'm' of service 's': wildcard '{{*rest}}' must be the last " \
        "segment" in message


def test_http_block_without_a_route() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            line = next_line()
            with HTTP():
                pass
    message = finalize_error(api)
    assert message == (
        f"{__file__}:{line}: method 'm' of service 's': HTTP block declares no route "
        "(add GET(...), POST(...), ...)"
    )


@pytest.mark.parametrize("fn", [Param, Header, Cookie])
def test_mapping_an_attribute_the_payload_lacks(fn: object) -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("page", Int)
            with HTTP():
                GET("/m")
                Param("page")
                line = next_line()
                fn("pgae:x")  # type: ignore[operator]
    message = finalize_error(api)
    name = fn.__name__  # type: ignore[attr-defined]
    assert message == (
        f"{__file__}:{line}: method 'm' of service 's': {name} maps 'pgae', which is not a "
        "payload attribute (attributes: page)"
    )


@pytest.mark.parametrize("kind", ["object", "map"])
def test_query_param_cannot_carry_an_object_or_a_map(kind: str) -> None:
    # A query parameter is one string (or a list of them): nothing could ever decode an
    # object from it, so the mapping is a design error, not a 400 on every request.
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                if kind == "object":
                    with Attribute("filter"):
                        Attribute("name", String)
                else:
                    Attribute("filter", MapOf(String, String))
            with HTTP():
                GET("/m")
                line = next_line()
                Param("filter")
    message = finalize_error(api)
    assert at(line) in message
    assert "Param cannot carry 'filter'" in message


def test_header_cannot_carry_an_object() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                with Attribute("meta"):
                    Attribute("x", String)
            with HTTP():
                GET("/m")
                line = next_line()
                Header("meta:X-Meta")
    message = finalize_error(api)
    assert at(line) in message
    assert "Header cannot carry 'meta' of type Object" in message


def test_attribute_both_in_path_and_query() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("id", String)
            with HTTP():
                GET("/m/{id}")
                line = next_line()
                Param("id")
    message = finalize_error(api)
    assert at(line) in message
    assert "attribute 'id' is both a path parameter and mapped elsewhere" in message


def test_body_naming_an_unknown_attribute() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("order", String)
            with HTTP():
                POST("/m")
                line = next_line()
                Body("ordre")
    message = finalize_error(api)
    assert message == (
        f"{__file__}:{line}: method 'm' of service 's': Body names 'ordre', which is not a "
        "payload attribute (attributes: order)"
    )


def test_response_mapping_an_undeclared_error() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        Error("not_found")
        with HTTP():
            l_svc = next_line()
            Response("gone", StatusGone)
        with Method("m"):
            with HTTP():
                GET("/m")
                l_method = next_line()
                Response("conflict", StatusConflict)
    message = finalize_error(api)
    assert f"{__file__}:{l_svc}: Response maps error 'gone', which no method of service 's' " \
        "declares" in message
    assert f"{__file__}:{l_method}: method 'm' of service 's': Response maps error 'conflict', " \
        "which the method does not declare (declared: not_found)" in message


def test_response_mapping_a_missing_result_attribute() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Result():
                Attribute("etag", String)
            with HTTP():
                POST("/m")
                with Response(StatusCreated):
                    line = next_line()
                    Header("etga:ETag")
    message = finalize_error(api)
    assert at(line) in message
    assert "Response maps result attribute 'etga', which the result does not have" in message


def test_response_headers_without_a_result() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with HTTP():
                POST("/m")
                line = next_line()
                with Response(StatusCreated):
                    Header("etag:ETag")
    message = finalize_error(api)
    assert at(line) in message
    assert "Response maps headers, cookies or a Tag but the method has no Result" in message


def test_service_prefix_path_parameter_is_a_path_parameter() -> None:
    # Goa allows parameters in a service's base path; they are path parameters of every
    # method, so a GET whose payload holds only path parameters has no body.
    with API("a") as api:
        pass
    with Service("s"):
        with HTTP():
            Path("/accounts/{account}")
        with Method("m") as m:
            with Payload():
                Attribute("account", String)
                Attribute("id", Int)
            with HTTP():
                GET("/items/{id}")
    api.finalize()
    assert m.http is not None
    assert m.http.routes[0].params == ["account", "id"]


# ---------------------------------------------------------------------------- misuse at the call
# Each DSL call below raises at once; `line` is the line of the call itself.


def test_api_inside_another_block() -> None:
    with API("a"), pytest.raises(DesignError) as info:
        line = next_line()
        API("b")
    assert str(info.value) == (
        f"{__file__}:{line}: API must be declared at the top level, not inside another block"
    )


def test_api_settings_outside_api() -> None:
    with API("a"), Service("s"):
        with pytest.raises(DesignError) as title:
            l_title = next_line()
            Title("x")
        with pytest.raises(DesignError) as version:
            l_version = next_line()
            Version("1")
        with pytest.raises(DesignError) as server:
            l_server = next_line()
            Server("http://x")
    assert str(title.value) == f"{__file__}:{l_title}: Title must be called inside API"
    assert str(version.value) == f"{__file__}:{l_version}: Version must be called inside API"
    assert str(server.value) == f"{__file__}:{l_server}: Server must be called inside API"


def test_attribute_outside_an_object() -> None:
    with API("a"), Service("s"), pytest.raises(DesignError) as info:
        line = next_line()
        Attribute("x", String)
    assert str(info.value).startswith(
        f"{__file__}:{line}: Attribute must be called inside Type, Payload, Result or an object "
        "Attribute"
    )


def test_attribute_inside_a_non_object_attribute() -> None:
    with API("a"), Type("T"), Attribute("n", Int), pytest.raises(DesignError) as info:
        line = next_line()
        Attribute("x", String)
    assert str(info.value) == (
        f"{__file__}:{line}: Attribute inside attribute 'n' of type Int: only object attributes "
        "hold attributes"
    )


def test_type_declared_twice() -> None:
    with API("a"):
        pass
    first = next_line()
    with Type("T"):
        pass
    with pytest.raises(DesignError) as info:
        line = next_line()
        Type("T")
    assert str(info.value) == (
        f"{__file__}:{line}: type 'T' is declared twice (first at {__file__}:{first})"
    )


def test_service_declared_twice() -> None:
    with API("a"):
        pass
    first = next_line()
    with Service("s"):
        pass
    with pytest.raises(DesignError) as info:
        line = next_line()
        Service("s")
    assert str(info.value) == (
        f"{__file__}:{line}: service 's' is declared twice (first at {__file__}:{first})"
    )


def test_a_design_without_an_api_gets_a_default_one_named_after_its_first_service() -> None:
    import bastion.dsl._build as build

    saved = build._state.design
    build._state.design = None
    try:
        with Type("T") as t:
            Attribute("x", String)
        with Service("calc") as calc:
            pass
        with Service("other"):
            pass
        api = current_design()
    finally:
        build._state.design = saved
    assert api is not None and api.default and calc.api is api
    assert list(api.types) == ["T"] and t.name == "T"
    assert list(api.services) == ["calc", "other"]
    api.finalize()
    assert api.name == "calc" and api.version == "0.0.1"


def test_a_finalized_design_is_not_extended_by_later_declarations() -> None:
    with API("done") as done:
        pass
    done.finalize()
    with Service("later") as later:
        pass
    assert later.api is not done and later.api.default and "later" not in done.services


def test_type_inside_a_service() -> None:
    with API("a"), Service("s"), pytest.raises(DesignError) as info:
        line = next_line()
        Type("T")
    assert str(info.value) == f"{__file__}:{line}: Type 'T' must be declared at the top level"


def test_attribute_declared_twice() -> None:
    with API("a"), Type("T"):
        first = next_line()
        Attribute("x", Int)
        with pytest.raises(DesignError) as info:
            line = next_line()
            Attribute("x", String)
    assert str(info.value) == (
        f"{__file__}:{line}: attribute 'x' is declared twice (first at {__file__}:{first})"
    )


def test_method_declared_twice() -> None:
    with API("a"), Service("s"):
        first = next_line()
        with Method("m"):
            pass
        with pytest.raises(DesignError) as info:
            line = next_line()
            Method("m")
    assert str(info.value) == (
        f"{__file__}:{line}: method 'm' of service 's' is declared twice "
        f"(first at {__file__}:{first})"
    )


def test_unknown_attribute_option() -> None:
    with API("a"), Type("T"), pytest.raises(DesignError) as info:
        line = next_line()
        Attribute("x", Int, minimun=1, max=2)
    assert str(info.value) == f"{__file__}:{line}: attribute 'x': unknown option(s) max, minimun"


def test_attribute_type_that_is_not_a_type() -> None:
    with API("a"), Type("T"), pytest.raises(DesignError) as info:
        line = next_line()
        Attribute("x", int)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"{__file__}:{line}: <class 'int'> is not a type: use a primitive, a Type, ArrayOf, "
        "MapOf or a name"
    )


def test_payload_result_and_error_declared_twice() -> None:
    with API("a"), Service("s"), Method("m"):
        Payload(String)
        with pytest.raises(DesignError) as payload:
            l_payload = next_line()
            Payload(Int)
        Result(String)
        with pytest.raises(DesignError) as result:
            l_result = next_line()
            Result(Int)
        first = next_line()
        Error("x")
        with pytest.raises(DesignError) as error:
            l_error = next_line()
            Error("x")
    assert str(payload.value) == (
        f"{__file__}:{l_payload}: method 'm' of service 's': Payload is declared twice"
    )
    assert str(result.value) == (
        f"{__file__}:{l_result}: method 'm' of service 's': Result is declared twice"
    )
    assert str(error.value) == (
        f"{__file__}:{l_error}: error 'x' is declared twice (first at {__file__}:{first})"
    )


def test_payload_outside_a_method() -> None:
    with API("a"), Service("s"), pytest.raises(DesignError) as info:
        line = next_line()
        Payload(String)
    assert str(info.value) == f"{__file__}:{line}: Payload must be called inside Method"


def test_error_outside_api_service_or_method() -> None:
    with API("a"), Type("T"), pytest.raises(DesignError) as info:
        line = next_line()
        Error("x")
    assert str(info.value) == (
        f"{__file__}:{line}: Error must be called inside API, Service or Method"
    )


def test_route_in_a_service_http_block() -> None:
    with API("a"), Service("s"), HTTP(), pytest.raises(DesignError) as info:
        line = next_line()
        GET("/x")
    assert str(info.value) == (
        f"{__file__}:{line}: GET must be called inside the HTTP block of a Method"
    )


def test_route_outside_an_http_block() -> None:
    with API("a"), Service("s"), Method("m"), pytest.raises(DesignError) as info:
        line = next_line()
        POST("/x")
    assert str(info.value) == f"{__file__}:{line}: POST must be called inside HTTP of a Method"


def test_route_path_must_start_with_a_slash() -> None:
    with API("a"), Service("s"), Method("m"), HTTP(), pytest.raises(DesignError) as info:
        line = next_line()
        GET("orders")
    assert str(info.value) == f"{__file__}:{line}: GET path 'orders' must start with '/'"


def test_path_prefix_in_a_method_http_block() -> None:
    with API("a"), Service("s"), Method("m"), HTTP(), pytest.raises(DesignError) as info:
        line = next_line()
        Path("/v1")
    assert str(info.value) == (
        f"{__file__}:{line}: Path must be called inside the HTTP block of an API or Service"
    )


def test_path_prefix_must_start_with_a_slash() -> None:
    with API("a"), Service("s"), HTTP(), pytest.raises(DesignError) as info:
        line = next_line()
        Path("v1")
    assert str(info.value) == f"{__file__}:{line}: Path 'v1' must start with '/'"


def test_attribute_mapped_twice() -> None:
    with API("a"), Service("s"), Method("m"), HTTP():
        first = next_line()
        Param("x")
        with pytest.raises(DesignError) as info:
            line = next_line()
            Header("x:X-X")
    assert str(info.value) == (
        f"{__file__}:{line}: attribute 'x' is mapped twice (first at {__file__}:{first})"
    )


def test_body_declared_twice() -> None:
    with API("a"), Service("s"), Method("m"), HTTP():
        Body("x")
        with pytest.raises(DesignError) as info:
            line = next_line()
            Body("y")
    assert str(info.value) == f"{__file__}:{line}: Body is declared twice"


def test_param_in_a_response_block() -> None:
    with API("a"), Service("s"), Method("m"), HTTP(), Response(StatusOK):
        with pytest.raises(DesignError) as info:
            line = next_line()
            Param("x")
    assert str(info.value) == (
        f"{__file__}:{line}: Param cannot be used in a Response block; use Header, Cookie or "
        "Body"
    )


def test_error_response_needs_a_status() -> None:
    with API("a"), Service("s"), Method("m"), HTTP(), pytest.raises(DesignError) as info:
        line = next_line()
        Response("not_found")
    assert str(info.value) == (
        f"{__file__}:{line}: Response('not_found') needs a status: Response('not_found', 404)"
    )


def test_response_status_must_be_an_http_status() -> None:
    with API("a"), Service("s"), Method("m"), HTTP(), pytest.raises(DesignError) as info:
        line = next_line()
        Response(999)
    assert str(info.value) == f"{__file__}:{line}: 999 is not an HTTP status code"


def test_result_response_declared_twice() -> None:
    # Responses may be several when all but one carry a Tag, set inside their blocks:
    # two without one are found when the design is finalized.
    with API("a") as api, Service("s"), Method("m"):
        Result(String)
        with HTTP():
            GET("/m")
            first = next_line()
            Response(StatusOK)
            line = next_line()
            Response(StatusCreated)
    assert finalize_error(api) == (
        f"{__file__}:{line}: the result Response is declared twice (first at {__file__}:{first});"
        " give all but one a Tag"
    )


def test_result_response_outside_a_method() -> None:
    with API("a"), Service("s"), HTTP(), pytest.raises(DesignError) as info:
        line = next_line()
        Response(StatusOK)
    assert str(info.value) == (
        f"{__file__}:{line}: a result Response must be declared in the HTTP block of a Method"
    )


def test_error_messages_never_point_inside_bastion() -> None:
    with API("a"), Service("s"), pytest.raises(DesignError) as info:
        Payload(String)
    assert re.search(r"bastion/dsl/\w+\.py", str(info.value)) is None
    assert f"{__file__}:" in str(info.value)
