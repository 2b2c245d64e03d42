"""The OpenAPI document of a design: info, paths, parameters, bodies and responses."""

from __future__ import annotations

import json

import pytest

from bastion.dsl import *
from tests.openapi.support import body_schema, checked, op, params, response_schema

ERROR = {"$ref": "#/components/schemas/Error"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def test_info_servers_and_tags() -> None:
    with API("shop") as api:
        Title("Shop API")
        Version("2.1.0")
        Description("Sells things.")
        Server("https://api.example.com", "production")
        Server("http://localhost:8000")
    with Service("items", description="The catalogue."), Method("list"), HTTP():
        GET("/items")
    with Service("silent"), Method("nothing"):
        pass  # no HTTP mapping: no tag, no path
    doc = checked(api)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Shop API", "version": "2.1.0", "description": "Sells things."}
    assert doc["servers"] == [
        {"url": "https://api.example.com", "description": "production"},
        {"url": "http://localhost:8000"},
    ]
    assert doc["tags"] == [{"name": "items", "description": "The catalogue."}]
    assert list(doc["paths"]) == ["/items"]
    assert "security" not in doc


def test_title_defaults_to_the_api_name() -> None:
    with API("plain") as api:
        pass
    doc = checked(api)
    assert doc["info"] == {"title": "plain", "version": "0.0.1"}
    assert doc["paths"] == {}


def test_operations_have_ids_summaries_tags_and_one_entry_per_route() -> None:
    with API("ops") as api:
        pass
    with Service("files"):
        with Method("get", description="Fetch a file.\nWith more detail."):
            with Payload():
                Attribute("path", String)
                Required("path")
            with HTTP():
                GET("/files/{*path}")
                HEAD("/files/{*path}")
                GET("/raw/{*path}")
        with Method("stat"), HTTP():
            GET("/stat")
    doc = checked(api)
    get = op(doc, "GET", "/files/{path}")
    assert get["operationId"] == "files#get"
    assert get["tags"] == ["files"]
    assert get["summary"] == "Fetch a file."
    assert get["description"] == "Fetch a file.\nWith more detail."
    assert op(doc, "HEAD", "/files/{path}")["operationId"] == "files#get#2"
    assert op(doc, "GET", "/raw/{path}")["operationId"] == "files#get#3"
    stat = op(doc, "GET", "/stat")
    assert stat["summary"] == "stat"
    assert "description" not in stat
    ids = [o["operationId"] for item in doc["paths"].values() for o in item.values()]
    assert len(ids) == len(set(ids))


def test_prefixes_apply_and_wildcards_are_plain_path_parameters() -> None:
    with API("prefixed") as api, HTTP():
        Path("/api")
    with Service("blobs"):
        with HTTP():
            Path("/v1")
        with Method("read"):
            with Payload():
                Attribute("bucket", String, "The bucket.")
                Attribute("key", String)
            with HTTP():
                GET("/blobs/{bucket}/{*key}")
    doc = checked(api)
    read = op(doc, "GET", "/api/v1/blobs/{bucket}/{key}")
    p = params(read)
    assert p[("path", "bucket")] == {
        "name": "bucket", "in": "path", "description": "The bucket.", "required": True,
        "schema": {"type": "string"},
    }
    key = p[("path", "key")]
    assert key["required"] is True  # even though the payload does not require it
    assert "slashes included" in key["description"]


def test_parameters_in_every_location() -> None:
    with API("params") as api:
        pass
    with Service("search"), Method("find"):
        with Payload():
            Attribute("id", Int64, minimum=1)
            Attribute("q", String, "Search text.", min_length=1)
            Attribute("page", Int32, default=1)
            Attribute("tags", ArrayOf(String))
            Attribute("request_id", String, format=UUID)
            Attribute("session", String)
            Required("id", "q", "session")
        with HTTP():
            GET("/things/{id}")
            Param("q")
            Param("page:p")
            Param("tags:tag")
            Header("request_id:X-Request-ID")
            Cookie("session:sid")
    doc = checked(api)
    p = params(op(doc, "GET", "/things/{id}"))
    assert list(p) == [
        ("path", "id"), ("query", "q"), ("query", "p"), ("query", "tag"),
        ("header", "X-Request-ID"), ("cookie", "sid"),
    ]
    assert p[("path", "id")] == {
        "name": "id", "in": "path", "required": True,
        "schema": {"type": "integer", "format": "int64", "minimum": 1,
                   "maximum": 2**63 - 1},
    }
    assert p[("query", "q")] == {
        "name": "q", "in": "query", "description": "Search text.", "required": True,
        "schema": {"type": "string", "minLength": 1},
    }
    assert p[("query", "p")] == {
        "name": "p", "in": "query",
        "schema": {"type": "integer", "format": "int32", "minimum": -(2**31),
                   "maximum": 2**31 - 1, "default": 1},
    }
    assert p[("query", "tag")] == {
        "name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form", "explode": True,
    }
    assert p[("header", "X-Request-ID")] == {
        "name": "X-Request-ID", "in": "header", "schema": {"type": "string", "format": "uuid"},
    }
    assert p[("cookie", "sid")] == {
        "name": "sid", "in": "cookie", "required": True, "schema": {"type": "string"},
    }
    assert "requestBody" not in op(doc, "GET", "/things/{id}")


def test_request_body_from_a_single_attribute() -> None:
    with API("single") as api:
        pass
    with Type("Order") as order_t:
        Attribute("amount", Float64)
    with Service("orders"):
        with Method("create"):
            with Payload():
                Attribute("shop", String)
                Attribute("order", order_t)
                Required("shop", "order")
            with HTTP():
                POST("/shops/{shop}/orders")
                Body("order")
        with Method("note"):
            with Payload():
                Attribute("text", String, "Free text.", max_length=200)
            with HTTP():
                POST("/notes")
                Body("text")
    doc = checked(api)
    create = op(doc, "POST", "/shops/{shop}/orders")
    assert create["requestBody"] == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
        "required": True,
    }
    note = op(doc, "POST", "/notes")
    assert note["requestBody"] == {
        "content": {"application/json": {"schema": {
            "type": "string", "maxLength": 200, "description": "Free text."}}},
    }


def test_request_body_from_the_unmapped_rest_of_the_payload() -> None:
    with API("rest") as api:
        pass
    with Service("users"), Method("update"):
        with Payload(description="What to change."):
            Attribute("id", String)
            Attribute("etag", String)
            Attribute("name", String, min_length=1)
            Attribute("email", String, format=Email)
            Attribute("age", Int32)
            Required("id", "etag", "email")
        with HTTP():
            PATCH("/users/{id}")
            Header("etag:If-Match")
    doc = checked(api)
    update = op(doc, "PATCH", "/users/{id}")
    assert update["requestBody"] == {
        "description": "What to change.",
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "name": {"type": ["string", "null"], "minLength": 1},
                "email": {"type": "string", "format": "email"},
                "age": {"type": ["integer", "null"], "format": "int32", "minimum": -(2**31),
                        "maximum": 2**31 - 1},
            },
            "required": ["email"],  # id and etag are required too, but not in the body
        }}},
        "required": True,
    }


def test_user_type_payload_is_referenced_when_wholly_in_the_body() -> None:
    with API("whole") as api:
        pass
    with Type("Signup") as signup_t:
        Attribute("email", String, format=Email)
        Attribute("plan", String)
    with Service("accounts"):
        with Method("signup"):
            Payload(signup_t)
            with HTTP():
                POST("/signup")
        with Method("upgrade"):
            Payload(signup_t)
            with HTTP():
                POST("/plans/{plan}")
    doc = checked(api)
    assert body_schema(op(doc, "POST", "/signup")) == {"$ref": "#/components/schemas/Signup"}
    assert "required" not in op(doc, "POST", "/signup")["requestBody"]
    # One attribute moved to the path: the rest is inline.
    assert body_schema(op(doc, "POST", "/plans/{plan}")) == {
        "type": "object",
        "properties": {"email": {"type": ["string", "null"], "format": "email"}},
    }


def test_no_request_body_when_everything_is_mapped_elsewhere() -> None:
    with API("mapped") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            Attribute("id", String)
        with HTTP():
            POST("/m/{id}")
    doc = checked(api)
    operation = op(doc, "POST", "/m/{id}")
    assert "requestBody" not in operation
    assert "413" not in operation["responses"]
    assert "415" not in operation["responses"]


def test_result_status_defaults_and_no_content() -> None:
    with API("status") as api:
        pass
    with Type("Thing") as thing_t:
        Attribute("id", String)
    with Service("things"):
        with Method("show"):
            Result(thing_t, description="The thing.")
            with HTTP():
                GET("/things")
        with Method("create"):
            Result(thing_t)
            with HTTP():
                POST("/things")
                Response(StatusCreated)
        with Method("delete"), HTTP():
            DELETE("/things")
        with Method("accept"), HTTP():
            PUT("/things")
            Response(StatusAccepted)
    doc = checked(api)
    show = op(doc, "GET", "/things")["responses"]
    assert show["200"] == {
        "description": "The thing.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
    }
    created = op(doc, "POST", "/things")["responses"]
    assert created["201"]["description"] == "Created"
    assert "200" not in created
    assert op(doc, "DELETE", "/things")["responses"]["204"] == {"description": "No Content"}
    assert op(doc, "PUT", "/things")["responses"]["202"] == {"description": "Accepted"}


def test_result_headers_and_body_attribute() -> None:
    with API("headers") as api:
        pass
    with Service("pages"):
        with Method("list"):
            with Result():
                Attribute("items", ArrayOf(String))
                Attribute("next", String, "Cursor of the next page.")
                Attribute("total", Int64)
                Required("items", "total")
            with HTTP():
                GET("/pages")
                with Response(StatusOK):
                    Header("next:X-Next-Cursor")
                    Header("total:X-Total-Count")
                    Body("items")
        with Method("count"):
            with Result():
                Attribute("total", Int32)
                Attribute("kind", String)
            with HTTP():
                GET("/count")
                with Response(StatusOK):
                    Header("total:X-Total")
        with Method("head_only"):
            with Result():
                Attribute("etag", String)
            with HTTP():
                GET("/etag")
                with Response(StatusOK):
                    Header("etag:ETag")
    doc = checked(api)
    listed = op(doc, "GET", "/pages")["responses"]["200"]
    assert listed["headers"] == {
        "X-Next-Cursor": {"description": "Cursor of the next page.",
                          "schema": {"type": "string"}},
        "X-Total-Count": {"required": True, "schema": {
            "type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}},
    }
    assert listed["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"type": "string"},
    }
    assert response_schema(op(doc, "GET", "/count"), 200) == {
        "type": "object", "properties": {"kind": {"type": ["string", "null"]}},
    }
    only = op(doc, "GET", "/etag")["responses"]["200"]
    assert "content" not in only
    assert list(only["headers"]) == ["ETag"]


def test_design_errors_mapped_at_method_service_and_api_level() -> None:
    with API("errs") as api:
        Error("unavailable", description="Try later.", temporary=True)
        with HTTP():
            Response("unavailable", StatusServiceUnavailable)
    with Type("Conflict") as conflict_t:
        Attribute("current_version", Int64)
    with Service("docs"):
        Error("not_found", description="No such document.")
        Error("gone")
        with HTTP():
            Response("not_found", StatusNotFound)
            Response("gone", StatusGone)
        with Method("save"):
            Error("conflict", conflict_t, "Version mismatch.")
            Error("gone", description="Overridden at method level.")
            Error("unmapped")
            with Payload():
                Attribute("id", String)
            with HTTP():
                PUT("/docs/{id}")
                Response("conflict", StatusConflict)
                Response("gone", StatusPreconditionFailed)
    doc = checked(api)
    responses = op(doc, "PUT", "/docs/{id}")["responses"]
    assert list(responses) == ["204", "400", "404", "409", "412", "500", "503"]
    assert responses["404"] == {
        "description": "not_found: No such document.",
        "headers": goa_error("not_found"),
        "content": {"application/json": {"schema": ERROR}},
    }
    assert responses["409"] == {
        "description": "conflict: Version mismatch.",
        "headers": goa_error("conflict"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Conflict"}}},
    }
    # The nearest mapping wins: the method moves `gone` from 410 to 412.
    assert responses["412"]["description"] == "gone: Overridden at method level."
    # Built-in and design answers at one status are merged: the server's 503, the API's.
    assert responses["503"]["description"].startswith("The server is overloaded")
    assert responses["503"]["description"].endswith("\n\nunavailable: Try later. (temporary)")
    # An unmapped error is answered 400 (500 for a fault): documented where it goes.
    assert responses["400"]["description"].startswith("The request is invalid.")
    assert responses["400"]["description"].endswith("\n\nunmapped")
    assert responses["400"]["content"] == {"application/json": {"schema": ERROR}}
    assert responses["500"] == _ref("InternalError")


def test_errors_sharing_a_status_are_merged() -> None:
    with API("merged") as api:
        pass
    with Type("Detail") as detail_t:
        Attribute("reason", String)
    with Service("s"), Method("m"):
        Error("invalid_state", detail_t, "Wrong state.")
        Error("bad_input", description="Semantic check failed.")
        Error("missing", description="Not here.")
        Error("deleted", description="Was here.")
        with Payload():
            Attribute("q", String)
        with HTTP():
            GET("/m")
            Param("q")
            Response("invalid_state", StatusBadRequest)
            Response("bad_input", StatusBadRequest)
            Response("missing", StatusNotFound)
            Response("deleted", StatusNotFound)
    doc = checked(api)
    responses = op(doc, "GET", "/m")["responses"]
    bad = responses["400"]
    assert bad["description"].startswith("The request is invalid.")
    assert "invalid_state: Wrong state." in bad["description"]
    assert "bad_input: Semantic check failed." in bad["description"]
    assert bad["content"]["application/json"]["schema"] == {
        "anyOf": [ERROR, {"$ref": "#/components/schemas/Detail"}],
    }
    assert responses["404"] == {
        "description": "missing: Not here.\n\ndeleted: Was here.",
        "headers": goa_error("missing", "deleted"),
        "content": {"application/json": {"schema": ERROR}},
    }


def goa_error(*names: str) -> dict[str, object]:
    """The `Goa-Error` header every design error response documents."""
    return {"Goa-Error": {"description": "The name of the design error.",
                          "schema": {"type": "string", "enum": list(names)}}}


def test_builtin_error_responses_and_the_error_schema() -> None:
    with API("builtin") as api:
        auth = BasicAuthSecurity("basic")
    with Service("s"):
        with Method("open"), HTTP():
            GET("/open")
        with Method("upload"):
            Security(auth)
            RateLimit("10/minute")
            with Payload():
                Username("user")
                Password("pass")
                Attribute("data", Bytes)
            with HTTP():
                POST("/upload")
    doc = checked(api)
    # No input: no 400. What any operation may answer: 500, and 503 from the server.
    assert list(op(doc, "GET", "/open")["responses"]) == ["204", "500", "503"]
    upload = op(doc, "POST", "/upload")["responses"]
    assert {k: v for k, v in upload.items() if k != "204"} == {
        "400": _ref("BadRequest"),
        "401": _ref("Unauthorized"),
        "403": _ref("Forbidden"),
        "408": _ref("RequestTimeout"),
        "413": _ref("PayloadTooLarge"),
        "415": _ref("UnsupportedMediaType"),
        "429": _ref("TooManyRequests"),
        "500": _ref("InternalError"),
        "503": _ref("ServiceUnavailable"),
    }
    components = doc["components"]
    assert "WWW-Authenticate" in components["responses"]["Unauthorized"]["headers"]
    assert "Retry-After" in components["responses"]["TooManyRequests"]["headers"]
    assert "Retry-After" in components["responses"]["ServiceUnavailable"]["headers"]
    error = components["schemas"]["Error"]
    assert error["type"] == "object"
    assert {k: v["type"] for k, v in error["properties"].items()} == {
        "name": "string", "id": "string", "message": "string", "temporary": "boolean",
        "timeout": "boolean", "fault": "boolean", "field": "string", "errors": "array",
    }
    assert error["required"] == ["name", "id", "message", "temporary", "timeout", "fault"]
    assert error["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    field_error = components["schemas"]["FieldError"]
    assert field_error["required"] == ["field", "in", "message"]
    assert set(field_error["properties"]) == {"field", "in", "message"}


def test_rate_limits_from_the_service_or_an_api_key_scheme_add_429() -> None:
    with API("limits") as api:
        keyed = APIKeySecurity("key", rate_limit="100/minute")
    with Service("limited"):
        RateLimit("5/second")
        with Method("a"), HTTP():
            GET("/a")
    with Service("keyed"), Method("b"):
        Security(keyed)
        with Payload():
            APIKey("key", "k")
        with HTTP():
            GET("/b")
    with Service("free"), Method("c"), HTTP():
        GET("/c")
    doc = checked(api)
    assert "429" in op(doc, "GET", "/a")["responses"]
    assert "429" in op(doc, "GET", "/b")["responses"]
    assert "429" not in op(doc, "GET", "/c")["responses"]


def test_same_operation_twice_in_openapi_is_a_design_error() -> None:
    with API("twice") as api:
        pass
    with Service("s"):
        with Method("one"):
            with Payload():
                Attribute("p", String)
            with HTTP():
                GET("/x/{p}")
        with Method("all"):
            with Payload():
                Attribute("p", String)
            with HTTP():
                GET("/x/{*p}")
    from bastion.openapi import spec

    with pytest.raises(DesignError, match="same OpenAPI operation"):
        spec(api)


def test_invalid_designs_raise_design_errors() -> None:
    with API("broken") as api:
        pass
    with Service("s"), Method("m"), HTTP():
        GET("/m/{missing}")
    from bastion.openapi import spec

    with pytest.raises(DesignError, match="path parameter 'missing'"):
        spec(api)


def test_non_object_payloads_and_results_are_the_whole_body() -> None:
    with API("scalars") as api:
        pass
    with Service("echo"):
        with Method("words"):
            Payload(ArrayOf(String, min_length=1), description="Words to count.")
            Result(Int64, description="How many.")
            with HTTP():
                POST("/count")
    doc = checked(api)
    count = op(doc, "POST", "/count")
    assert count["requestBody"] == {
        "description": "Words to count.",
        "content": {"application/json": {"schema": {
            "type": "array", "items": {"type": "string", "minLength": 1}}}},
        "required": True,
    }
    assert count["responses"]["200"]["description"] == "How many."
    assert response_schema(count, 200) == {
        "type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1,
    }


def test_head_routes_document_headers_but_no_body() -> None:
    with API("head") as api:
        pass
    with Service("files"), Method("stat"):
        with Payload():
            Attribute("name", String)
        with Result():
            Attribute("size", Int64)
            Attribute("etag", String)
        with HTTP():
            GET("/files/{name}")
            HEAD("/files/{name}")
            with Response(StatusOK):
                Header("etag:ETag")
    doc = checked(api)
    get = op(doc, "GET", "/files/{name}")["responses"]["200"]
    head = op(doc, "HEAD", "/files/{name}")["responses"]["200"]
    assert "content" in get
    assert "content" not in head
    assert head["headers"] == get["headers"]
    assert list(head["headers"]) == ["ETag"]


def test_the_orders_example_documents_what_it_can_answer_and_nothing_else() -> None:
    from examples.orders.design import api

    doc = checked(api, None)  # the App's codecs: a result in a type Accept refuses is 406
    listed = {(verb.upper(), path): sorted(int(s) for s in operation["responses"])
              for path, ops in doc["paths"].items() for verb, operation in ops.items()}
    always = [500, 503, 406]
    secured = [401, 403, 429]  # the lockout after failed authentications is 429 too
    assert listed == {
        # A body: 408, 413 and 415; input: 400; only the design's own errors besides.
        ("POST", "/orders"): sorted([201, 400, 408, 413, 415, 422, *secured, *always]),
        ("GET", "/orders"): sorted([200, 400, *secured, *always]),
        ("GET", "/orders/{id}"): sorted([200, 400, 404, *secured, *always]),
        # POST without a body (every attribute is in the path or a header).
        ("POST", "/orders/{id}/cancel"): sorted([200, 400, 404, 409, *secured, *always]),
        ("GET", "/ping"): sorted([200, *always]),
    }


def test_a_result_mapped_to_content_length_documents_no_such_header() -> None:
    with API("framing") as api:
        pass
    with Service("s"), Method("m"):
        with Result():
            Attribute("size", Int)
            Attribute("etag", String)
            Attribute("items", ArrayOf(Int))
        with HTTP():
            GET("/m")
            with Response(StatusOK):
                Header("size:Content-Length")
                Header("etag:ETag")
    doc = checked(api)
    ok = op(doc, "GET", "/m")["responses"]["200"]
    assert set(ok["headers"]) == {"ETag"}  # the server writes the body's own length
    assert response_schema(op(doc, "GET", "/m"), 200)["properties"].keys() == {"items"}


# ---------------------------------------------------------------- Goa parity


def views_design() -> APIExpr:
    with API("cellar") as api:
        pass
    with ResultType("application/vnd.bottle", "Bottle") as bottle:
        with Attributes():
            Attribute("id", String)
            Attribute("name", String)
            Attribute("rating", Int)
        with View("default"):
            Attribute("id")
            Attribute("name")
            Attribute("rating")
        with View("tiny"):
            Attribute("id")
        Required("id", "name")
    with Service("storage"):
        with Method("show"):
            with Payload():
                Attribute("id", String)
                Attribute("view", String, enum=["default", "tiny"])
                Required("id")
            Result(bottle)
            with HTTP():
                GET("/bottles/{id}")
                Param("view")
        with Method("list"):
            Result(CollectionOf(bottle), view="tiny")
            with HTTP():
                GET("/bottles")
    return api


def test_each_view_is_its_own_schema_and_a_picked_view_is_named_in_goa_view() -> None:
    doc = checked(views_design())
    schemas = doc["components"]["schemas"]
    assert schemas["Bottle"]["required"] == ["id", "name"]
    assert list(schemas["Bottle"]["properties"]) == ["id", "name", "rating"]
    assert schemas["BottleTiny"]["properties"] == {"id": {"type": "string"}}
    assert schemas["BottleTiny"]["required"] == ["id"]
    ok = op(doc, "GET", "/bottles/{id}")["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"anyOf": [
        {"$ref": "#/components/schemas/Bottle"}, {"$ref": "#/components/schemas/BottleTiny"}]}
    assert ok["headers"]["Goa-View"]["schema"] == {"type": "string",
                                                   "enum": ["default", "tiny"]}
    listed = op(doc, "GET", "/bottles")["responses"]["200"]
    assert listed["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/BottleTiny"}}
    assert "headers" not in listed


def test_tagged_responses_cookies_and_typed_errors_are_documented_as_sent() -> None:
    with API("wire") as api:
        pass
    with Type("DivByZero") as div:
        Attribute("message", String)
        Attribute("code", String)
        Required("message")
    with Service("s"), Method("create"):
        with Payload():
            Attribute("x", Int)
        with Result():
            Attribute("id", String)
            Attribute("outcome", String)
            Attribute("sid", String)
        Error("div_by_zero", div, "division by 0")
        Error("unauthorized", String, "Who are you?")
        Error("quiet")
        with HTTP():
            POST("/things")
            with Response(StatusOK):
                Cookie("sid:SID")
                CookieMaxAge(60)
            with Response(StatusCreated):
                Tag("outcome", "created")
            with Response("div_by_zero", StatusBadRequest):
                Description("Dividing by zero.")
                Header("code:X-Code")
            Response("unauthorized", StatusUnauthorized)
            with Response("quiet", StatusConflict):
                Body(Empty)
    doc = checked(api)
    responses = op(doc, "POST", "/things")["responses"]
    assert responses["200"]["headers"]["Set-Cookie"]["description"] == "Sets cookie(s) SID."
    assert list(responses["200"]["content"]["application/json"]["schema"]["properties"]) == [
        "id", "outcome"]
    assert "(results whose `outcome` is 'created')" in responses["201"]["description"]
    assert "sid" in responses["201"]["content"]["application/json"]["schema"]["properties"]
    bad = responses["400"]
    assert "div_by_zero: Dividing by zero." in bad["description"]
    assert bad["headers"]["X-Code"] == {"schema": {"type": "string"}}
    assert bad["headers"]["Goa-Error"]["schema"]["enum"] == ["div_by_zero"]
    assert {"type": "object", "properties": {"message": {"type": "string"}},
            "required": ["message"]} in bad["content"]["application/json"]["schema"]["anyOf"]
    unauthorized = responses["401"]
    assert "unauthorized: Who are you?" in unauthorized["description"]
    assert unauthorized["content"]["application/json"]["schema"] == {"type": "string"}
    quiet = responses["409"]
    assert "content" not in quiet and quiet["headers"]["Goa-Error"]["schema"]["enum"] == [
        "quiet"]


def test_goa_meta_keys_shape_the_document() -> None:
    with API("meta") as api:
        Meta("openapi:operationId", "{service}.{method}(-{routeIndex})")
    with Type("Hidden") as hidden:
        Meta("openapi:generate", "false")
        Attribute("x", String)
    with Type("Shown"):
        Attribute("a", String)
        with Attribute("secret", String):
            Meta("openapi:generate", "false")
        with Attribute("ssn", String):
            Meta("struct:tag:json", "SSN")
    with Service("backend"):
        with HTTP():
            Meta("openapi:tag:Backend:desc", "The back end.")
            Meta("openapi:tag:Backend:url", "https://example.com/docs")
        with Method("show"):
            Meta("openapi:summary", "Show at {path}")
            Payload("Shown")
            Result(hidden)
            with HTTP():
                Meta("openapi:tag:Backend")
                POST("/show")
                POST("/show2")
        with Method("internal"):
            Meta("openapi:generate", "false")
            with HTTP():
                GET("/internal")
    with Service("invisible"):
        Meta("openapi:generate", "false")
        with Method("m"), HTTP():
            GET("/invisible")
    doc = checked(api)
    assert set(doc["paths"]) == {"/show", "/show2"}
    show = op(doc, "POST", "/show")
    assert show["summary"] == "Show at /show" and show["tags"] == ["Backend"]
    assert show["operationId"] == "backend.show"
    assert op(doc, "POST", "/show2")["operationId"] == "backend.show-2"
    assert {"name": "Backend", "description": "The back end.",
            "externalDocs": {"url": "https://example.com/docs"}} in doc["tags"]
    schemas = doc["components"]["schemas"]
    assert list(schemas["Shown"]["properties"]) == ["a", "SSN"]
    assert "Hidden" in schemas  # listed only because an operation uses it
    del hidden


def test_an_unused_type_marked_not_generated_is_left_out() -> None:
    with API("meta") as api:
        pass
    with Type("Backstage"):
        Meta("openapi:generate", "false")
        Attribute("x", String)
    with Type("Spare"):  # unused too, but not marked: documented like every type
        Attribute("y", String)
    with Service("s"), Method("m"), HTTP():
        GET("/m")
    doc = checked(api)
    assert "Spare" in doc["components"]["schemas"]
    assert "Backstage" not in doc["components"]["schemas"]
    assert "Backstage" not in json.dumps(doc)


def test_servers_hosts_variables_and_a_default_api() -> None:
    import bastion.dsl._build as build

    saved = build._state.design
    build._state.design = None
    try:
        with Service("calc"), Method("add"), HTTP():
            GET("/add")
        api = current_design()
    finally:
        build._state.design = saved
    assert api is not None
    doc = checked(api)
    assert doc["info"] == {"title": "calc", "version": "0.0.1"}
    with API("calc") as api:
        with Server("calc"):
            Description("The calculator.")
            with Host("dev", URI("grpc://localhost:8080"), URI("http://localhost:{port}")):
                Variable("port", String, "The port.", default="8000", enum=["8000", "8080"])
            with Host("hidden", "https://hidden.example.com"):
                Meta("openapi:generate", "false")
    with Service("calc"), Method("add"), HTTP():
        GET("/add")
    assert checked(api)["servers"] == [{
        "url": "http://localhost:{port}", "description": "The calculator.",
        "variables": {"port": {"default": "8000", "enum": ["8000", "8080"],
                               "description": "The port."}},
    }]


def test_files_unions_and_map_params_are_documented() -> None:
    with API("misc") as api:
        pass
    with Type("Cat") as cat:
        Attribute("name", String)
    with Service("assets"):
        Files("/static/{*path}", "/srv/public", "The site's files.")
        Files("/openapi.json", "gen/openapi.json")
        with Method("adopt"):
            with Payload():
                with OneOf("pet"):
                    Attribute("cat", cat)
                    Attribute("id", Int)
            with HTTP():
                POST("/adopt")
        with Method("rate"):
            Payload(MapOf(String, ArrayOf(String)))
            with HTTP():
                POST("/rate")
                MapParams()
    doc = checked(api)
    static = op(doc, "GET", "/static/{path}")
    assert static["operationId"] == "assets#/static/{*path}"
    assert static["summary"] == "Download /srv/public"
    assert static["description"] == "The site's files."
    assert params(static)[("path", "path")]["required"] is True
    assert set(static["responses"]) == {"200", "206", "304", "404", "416"}
    assert op(doc, "GET", "/openapi.json")["responses"]["200"]["description"] == "The file."
    pet = body_schema(op(doc, "POST", "/adopt"))["properties"]["pet"]
    assert pet["type"] == ["object", "null"]  # optional: null is "absent", as everywhere
    assert pet["required"] == ["Type", "Value"]
    assert pet["properties"]["Type"] == {"type": "string", "enum": ["cat", "id"]}
    assert pet["properties"]["Value"]["contentSchema"] == {"anyOf": [
        {"$ref": "#/components/schemas/Cat"}, {"type": "integer", "format": "int64",
                                               "minimum": -(2**63), "maximum": 2**63 - 1}]}
    rate = op(doc, "POST", "/rate")
    assert "requestBody" not in rate
    query = params(rate)[("query", "query")]
    assert query["required"] is True and query["style"] == "form"
    assert query["schema"]["additionalProperties"]["type"] == "array"


def test_files_are_public_even_when_the_api_is_secured() -> None:
    with API("secured") as api:
        jwt = JWTSecurity("jwt")
        Security(jwt)
    with Service("assets"):
        Files("/logo.png", "logo.png")
        with Method("m"):
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/m")
    doc = checked(api)
    assert doc["security"] == [{"jwt": []}]
    assert op(doc, "GET", "/logo.png")["security"] == []  # served to anyone, as Goa's
    assert op(doc, "GET", "/m")["security"] == [{"jwt": []}]
