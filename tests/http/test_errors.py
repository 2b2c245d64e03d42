"""The error body: Goa's shape, the same for every error the HTTP layer writes."""

from __future__ import annotations

import json

from bastion.errors import ServiceError, make_error
from bastion.http.errors import HTTPError, error_body, internal_error, service_error_body
from bastion.schema.validate import FieldError


def test_error_body_has_goa_fields_in_order() -> None:
    body = json.loads(error_body("not_found", "abc", "no order"))
    assert list(body) == ["name", "id", "message", "temporary", "timeout", "fault"]
    assert body == {"name": "not_found", "id": "abc", "message": "no order", "temporary": False,
                    "timeout": False, "fault": False}


def test_error_body_adds_field_errors_and_details_only_when_given() -> None:
    body = json.loads(error_body(
        "bad_request", "x", "m", field="id",
        errors=[{"field": "id", "in": "path", "message": "bad"}], details={"k": 1},
        temporary=True, timeout=True, fault=True,
    ))
    assert body["field"] == "id"
    assert body["errors"] == [{"field": "id", "in": "path", "message": "bad"}]
    assert body["details"] == {"k": 1}
    assert (body["temporary"], body["timeout"], body["fault"]) == (True, True, True)


def test_http_error_body_lists_every_field_error() -> None:
    err = HTTPError(400, "bad_request", "2 invalid fields: a, b", errors=[
        FieldError("a", "missing required field", "query"),
        FieldError("b", "Expected `int`, got `str`"),
    ])
    body = json.loads(err.body())
    assert body["id"] == err.id and len(err.id) >= 8
    assert body["errors"] == [
        {"field": "a", "in": "query", "message": "missing required field"},
        {"field": "b", "in": "body", "message": "Expected `int`, got `str`"},
    ]
    assert HTTPError(404, "not_found", "x").id != HTTPError(404, "not_found", "x").id


def test_internal_error_says_nothing_but_the_id() -> None:
    body = json.loads(internal_error("the-id"))
    assert body == {
        "name": "internal",
        "id": "the-id",
        "message": "an internal error occurred; quote the id to the service's operators",
        "temporary": False,
        "timeout": False,
        "fault": True,
    }


def test_service_error_body() -> None:
    err = make_error("not_found", "no order 7", field="id")
    assert isinstance(err, ServiceError)
    body = json.loads(service_error_body(err))
    assert body == {"name": "not_found", "id": err.id, "message": "no order 7",
                    "temporary": False, "timeout": False, "fault": False, "field": "id"}
    assert make_error("x", "y").id != make_error("x", "y").id
    detailed = ServiceError("conflict", "taken", details={"owner": "someone"})
    assert json.loads(service_error_body(detailed))["details"] == {"owner": "someone"}


def test_transport_errors_are_bastion_errors() -> None:
    from bastion.errors import BastionError
    from bastion.http.encoder import ResultMismatch
    from bastion.http.router import RouteClash

    assert issubclass(HTTPError, BastionError)
    assert issubclass(ResultMismatch, BastionError) and issubclass(ResultMismatch, TypeError)
    assert issubclass(RouteClash, BastionError) and issubclass(RouteClash, ValueError)


def test_statuses_that_say_retry_later_are_temporary() -> None:
    for status in (408, 429, 503):
        assert json.loads(HTTPError(status, "x", "m").body())["temporary"] is True
    assert json.loads(HTTPError(400, "x", "m").body())["temporary"] is False
    assert json.loads(HTTPError(503, "x", "m").body())["fault"] is True
    assert json.loads(HTTPError(429, "x", "m", temporary=False).body())["temporary"] is False


async def test_the_admin_listener_answers_errors_in_the_api_shape() -> None:
    from bastion.dsl import API, GET, HTTP, Method, Service
    from tests.support.apps import quiet_app
    from tests.support.asgi import call

    with API("admin") as api:
        pass
    with Service("s"), Method("m"), HTTP():
        GET("/m")

    class Impl:
        async def m(self) -> None:
            return None

    app = quiet_app(api, {"s": Impl()})
    shapes = []
    # Go's pprof pages Python cannot provide are errors too, in the same shape.
    unavailable = [("GET", f"/debug/pprof/{name}") for name in ("allocs", "block", "mutex",
                                                                "threadcreate", "symbol", "trace")]
    targets = [("GET", "/nowhere"), ("DELETE", "/healthz"), ("POST", "/metrics"),
               ("GET", "/debug/pprof/nothing"), ("GET", "/debug?debug-logs=maybe"), *unavailable]
    for method, target in targets:
        path, _, query = target.partition("?")
        r = await call(app.admin_app, method, path, query=query)
        assert r.status in (400, 404, 405), (path, r.status)
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        shapes.append(sorted(body))
        assert isinstance(body["id"], str) and body["id"]
        assert body["message"] and "error" not in body
    assert shapes == [["fault", "id", "message", "name", "temporary", "timeout"]] * len(targets)
    names = [(await call(app.admin_app, "GET", "/nowhere")).json()["name"],
             (await call(app.admin_app, "DELETE", "/healthz")).json()["name"]]
    assert names == ["not_found", "method_not_allowed"]
