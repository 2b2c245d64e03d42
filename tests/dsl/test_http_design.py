"""The HTTP mapping's Goa parts: Params/Headers blocks, MapParams, Tag, response cookies,
error Response blocks, Files and servers; each misuse is a `DesignError` with file:line."""

from __future__ import annotations

import os

import pytest

from bastion.dsl import *
from tests.support.lines import next_line


def finalize_error(api: APIExpr) -> str:
    with pytest.raises(DesignError) as info:
        api.finalize()
    return str(info.value)


def at(line: int) -> str:
    return f"{__file__}:{line}: "


def test_params_block_refines_payload_attributes_for_http() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("list") as m:
        with Payload():
            Attribute("page", Int, "The page.", minimum=0)
            Attribute("version", String)
            Attribute("token", String)
        with HTTP():
            GET("/items")
            with Params():
                Param("page", Int, minimum=1, maximum=99)
                Param("version:v", description="API version", enum=["1.0", "2.0"])
                Required("version")
            with Headers():
                Header("token:X-Token", String, pattern="^tk_")
    api.finalize()
    http = m.http
    assert http is not None and http.payload is not None
    refined = http.payload.object
    assert refined is not None
    page = refined.attributes["page"]
    assert (page.minimum, page.maximum, page.description) == (1, 99, "The page.")
    assert refined.attributes["version"].enum == ("1.0", "2.0")
    assert refined.attributes["token"].pattern == "^tk_"
    assert "version" in refined.required
    # The payload itself is unchanged: other transports keep its own validations.
    assert m.payload is not None and m.payload.object is not None
    assert m.payload.object.attributes["page"].minimum == 0
    assert "version" not in m.payload.object.required
    assert (http.params, http.headers) == ({"page": "page", "version": "v"}, {"token": "X-Token"})


def test_declared_params_must_match_the_payload() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            Attribute("page", Int)
        with HTTP():
            GET("/m")
            l_type = next_line()
            Param("page", String)
            l_missing = next_line()
            Header("nope:X-Nope", String)
            with Params():
                l_required = next_line()
                Required("ghost")
    message = finalize_error(api)
    assert at(l_type) + "method 'm' of service 's': 'page' is declared as String here but is " \
        "Int in the payload" in message
    assert at(l_missing) + "method 'm' of service 's': 'nope' is not a payload attribute " \
        "(attributes: page); declare it in the Payload" in message
    assert at(l_required) + "method 'm' of service 's': Required names 'ghost', which is not a " \
        "payload attribute" in message


def test_params_blocks_take_only_their_kind_and_live_in_a_method() -> None:
    with API("a"), Service("s"), Method("m"), HTTP(), Params(), pytest.raises(DesignError) as info:
        line = next_line()
        Header("x")
    assert str(info.value) == f"{at(line)}Header cannot be used in a Params block"
    with API("b"), Service("s"), HTTP(), pytest.raises(DesignError) as svc:
        Params()
    assert "Params must be called inside the HTTP block of a Method" in str(svc.value)


def test_map_params_needs_a_map() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("rate") as rate:
            Payload(MapOf(UInt32, ArrayOf(String)))
            with HTTP():
                POST("/rate")
                MapParams()
        with Method("bad"):
            Payload(String)
            with HTTP():
                POST("/bad")
                l_whole = next_line()
                MapParams()
        with Method("attr"):
            with Payload():
                Attribute("p", MapOf(String, Int))
                Attribute("q", String)
            with HTTP():
                GET("/attr")
                l_attr = next_line()
                MapParams("q")
        with Method("nested"):
            with Payload():
                Attribute("p", MapOf(String, MapOf(String, Int)))
            with HTTP():
                GET("/nested")
                l_nested = next_line()
                MapParams("p")
    message = finalize_error(api)
    assert at(l_whole) + "method 'bad' of service 's': MapParams() maps the query string to the " \
        "whole payload, which must then be a MapOf(K, V)" in message
    assert at(l_attr) + "method 'attr' of service 's': MapParams('q') needs a payload attribute " \
        "of type MapOf(K, V)" in message
    assert at(l_nested) + "method 'nested' of service 's': MapParams needs a map of primitives" \
        in message
    assert rate.http is not None and rate.http.map_params == ""


def test_tagged_responses_pick_by_a_string_attribute() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("create") as m:
        with Result():
            Attribute("id", String)
            Attribute("outcome", String, enum=["created", "accepted"])
        with HTTP():
            POST("/things")
            Response(StatusOK)
            with Response(StatusCreated):
                Tag("outcome", "created")
            with Response(StatusAccepted):
                Tag("outcome", "accepted")
    api.finalize()
    http = m.http
    assert http is not None and http.response is not None
    assert http.response.status == 200
    assert [(r.status, r.tag) for r in http.tagged] == [
        (201, ("outcome", "created")), (202, ("outcome", "accepted"))]
    assert [r.status for r in http.responses] == [201, 202, 200]


def test_tags_used_wrongly() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("all_tagged"):
            with Result():
                Attribute("k", String)
            with HTTP():
                POST("/a")
                with Response(StatusCreated):
                    l_all = next_line()
                    Tag("k", "x")
        with Method("bad_attr"):
            with Result():
                Attribute("n", Int, enum=[1])
                Attribute("s", String, enum=["a"])
            with HTTP():
                POST("/b")
                Response(StatusOK)
                with Response(StatusCreated):
                    l_int = next_line()
                    Tag("n", "1")
                with Response(StatusAccepted):
                    l_enum = next_line()
                    Tag("s", "z")
                l_status = next_line()
                with Response(StatusAccepted):
                    Tag("s", "a")
    message = finalize_error(api)
    assert "method 'all_tagged' of service 's': every result Response has a Tag; one must " \
        "have none" in message
    assert at(l_int) + "method 'bad_attr' of service 's': Tag('n', ...) needs a String " \
        "attribute, not Int" in message
    assert at(l_enum) + "method 'bad_attr' of service 's': Tag value 'z' is not one of the " \
        "enum values of 's'" in message
    assert at(l_status) + "method 'bad_attr' of service 's': two result Responses answer " \
        "status 202" in message
    del l_all
    with API("b"), Service("s"), Method("m"), HTTP(), pytest.raises(DesignError) as info:
        Tag("x", "y")
    assert "Tag must be called inside a Response block" in str(info.value)


def test_response_cookies_and_their_attributes() -> None:
    with API("a") as api:
        pass
    with Service("session"), Method("create") as m:
        with Result():
            Attribute("session_id", String)
            Attribute("message", String)
        with HTTP():
            POST("/")
            with Response(StatusOK):
                Cookie("session_id:SID")
                CookieMaxAge(3600)
                CookieDomain("goa.design")
                CookiePath("/session")
                CookieSecure()
                CookieHTTPOnly()
                CookieSameSite(CookieSameSiteStrict)
    api.finalize()
    response = m.http.response if m.http is not None else None
    assert response is not None and response.cookies == {"session_id": "SID"}
    assert response.cookie_attributes == {
        "max-age": "3600", "domain": "goa.design", "path": "/session", "secure": "Secure",
        "http-only": "HttpOnly", "same-site": "strict"}
    with API("b"), Service("s"), Method("m"), HTTP(), Response(StatusOK), pytest.raises(
        DesignError, match="CookieSameSite needs CookieSameSiteStrict"
    ):
        CookieSameSite("sometimes")


def test_cookies_used_wrongly() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("m"):
        with Result():
            Attribute("tags", ArrayOf(String))
        with HTTP():
            POST("/m")
            with Response(StatusOK):
                l_array = next_line()
                Cookie("tags:t")
            with Response(StatusCreated):
                Tag("tags", "x")
        l_none = next_line()
    with Service("t"), Method("m"):
        with Result():
            Attribute("x", String)
        with HTTP():
            POST("/t")
            l_attrs = next_line()
            with Response(StatusOK):
                CookieMaxAge(10)
    message = finalize_error(api)
    assert at(l_array) + "method 'm' of service 's': cookie 'tags' must be a primitive" in message
    assert at(l_attrs) + "method 'm' of service 't': Cookie attributes (CookieMaxAge...) are " \
        "set on a Response that writes no Cookie" in message
    del l_none


def test_error_response_blocks() -> None:
    with API("a") as api:
        pass
    with Type("DivByZero") as div:
        Attribute("message", String)
        Attribute("code", String)
    with Service("calc"):
        Error("timeout", timeout=True)
        with Method("divide") as m:
            Error("div_by_zero", div)
            with HTTP():
                POST("/")
                with Response("div_by_zero", StatusBadRequest):
                    Description("Division by zero.")
                    Header("code:X-Code")
                with Response("timeout", StatusGatewayTimeout):
                    Body(Empty)
    api.finalize()
    assert m.http is not None
    mappings = {em.name: em for em in m.http.errors}
    div_response = mappings["div_by_zero"].response
    assert div_response is not None
    assert div_response.description == "Division by zero."
    assert div_response.headers == {"code": "X-Code"}
    timeout = mappings["timeout"].response
    assert timeout is not None and timeout.body_empty


def test_error_response_blocks_used_wrongly() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("m"):
        Error("oops")
        Error("typed", String)
        with HTTP():
            POST("/m")
            with Response("oops", StatusBadRequest):
                l_header = next_line()
                Header("nope:X-Nope")
            with Response("typed", StatusConflict):
                l_tag = next_line()
                Tag("what", "x")
            with Response("typed", StatusGone):
                Tag("other", "y")
    message = finalize_error(api)
    assert at(l_header) + "method 'm' of service 's': the Response of error 'oops' maps " \
        "'nope', which its type ErrorResult does not have (attributes: name, id, message, " \
        "temporary, timeout, fault, field)" in message
    assert "every Response of error 'typed' has a Tag; one must have none" in message
    del l_tag
    with API("b"), Service("s"), Method("m"), HTTP(), pytest.raises(DesignError) as body:
        Body(Empty)
    assert "Body(Empty) applies to a Response" in str(body.value)


def test_files_resolve_relative_to_their_file_and_take_prefixes() -> None:
    with API("a") as api:
        pass
    with Service("swagger"):
        with HTTP():
            Path("/swagger")
        with Files("/swagger.json", "gen/openapi.json") as one:
            Description("The document.")
        folder = Files("static/{*path}", "/srv/public").expr
    api.finalize()
    assert one.full_path == "/swagger/swagger.json" and not one.is_dir
    assert one.root == os.path.join(os.path.dirname(__file__), "gen", "openapi.json")
    assert one.description == "The document."
    assert folder.path == "/static/{*path}" and folder.is_dir
    assert folder.full_path == "/swagger/static/{*path}" and folder.root == "/srv/public"


def test_files_used_wrongly() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("index"), HTTP():
            GET("/index.html")
        l_clash = next_line()
        Files("/index.html", "index.html")
        l_mid = next_line()
        Files("/a/{*rest}/b", "x")
    message = finalize_error(api)
    assert at(l_clash) + "Files '/index.html' of service 's' collides with a route of method " \
        "'index' of service 's'" in message
    assert at(l_mid) + "Files '/a/{*rest}/b': a wildcard must be the last segment" in message
    with API("b"), pytest.raises(DesignError, match="Files must be called inside Service"):
        Files("/x", "x")


def test_servers_hosts_and_variables() -> None:
    with API("calc") as api:
        with Server("calcsvr"):
            Description("The calculator.")
            Services("calc")
            with Host("dev", URI("http://localhost:{port}/calc"), description="Development"):
                Variable("port", String, "The port.", default="8000", enum=["8000", "8080"])
            with Host("prod"):
                URI("https://calc.example.com")
    with Service("calc"):
        pass
    api.finalize()
    server = api.server_defs[0]
    assert (server.name, server.description, server.services) == (
        "calcsvr", "The calculator.", ["calc"])
    dev, prod = server.hosts
    assert dev.uris == ["http://localhost:{port}/calc"] and dev.description == "Development"
    assert dev.variables["port"].default == "8000"
    assert prod.uris == ["https://calc.example.com"]
    assert URI == "uri"  # still the format constant


def test_servers_used_wrongly() -> None:
    with API("a") as api:
        with Server("s1"):
            l_services = next_line()
            Services("ghost")
            l_host = next_line()
            with Host("h", URI("http://{undeclared}:{port}/")):
                l_var = next_line()
                Variable("port", String)
                l_enum = next_line()
                Variable("x", String, default="c", enum=["a", "b"])
        l_empty = next_line()
        Server("empty")
    message = finalize_error(api)
    assert at(l_services) + "server 's1' hosts service 'ghost', which the design does not " \
        "declare" in message
    assert at(l_host) + "host 'h' of server 's1': URI variable {undeclared} is not declared " \
        "with Variable" in message
    assert at(l_var) + "host 'h' of server 's1': variable 'port' needs a default or an enum" \
        in message
    assert at(l_enum) + "host 'h' of server 's1': the default of variable 'x' is not one of " \
        "its enum values" in message
    assert at(l_enum) + "host 'h' of server 's1': variable 'x' is used by no URI" in message
    assert at(l_empty) + "server 'empty' declares no Host" in message
    with API("b"), Server("s"), pytest.raises(DesignError) as twice:
        first = next_line()
        Host("h", "http://x")
        line = next_line()
        Host("h", "http://y")
    assert str(twice.value) == (f"{at(line)}host 'h' of server 's' is declared twice (first at "
                                f"{__file__}:{first})")
    with API("c"), pytest.raises(DesignError, match=r"URI\(url\) must be called inside a Host"):
        URI("http://nowhere")
