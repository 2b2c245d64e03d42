"""Design errors on the wire: their status, `Goa-Error`, and the body their type says."""

from __future__ import annotations

import typing

import bastion
from bastion.dsl import *
from bastion.testing import LogCapture, TestClient
from tests.support.apps import quiet_app


def calc_design() -> typing.Any:
    """Goa's error example, plus the other shapes an error's Response may take."""
    with API("calc") as api:
        pass
    with Type("DivByZero") as div:
        Description("DivByZero is the error returned when using value 0 as divisor.")
        Attribute("message", String, "division by zero leads to infinity.")
        Attribute("code", String)
        Required("message")
    with Type("NotFound") as not_found:
        with Attribute("kind", String):
            Meta("struct:error:name")
        Attribute("id", String)
        Required("kind", "id")
    with Service("calc"):
        Error("timeout", timeout=True)
        with Method("divide"):
            with Payload():
                Attribute("case", String)
            Error("div_by_zero", div, "division by 0")
            Error("unauthorized", String)
            Error("missing", not_found)
            Error("gone", not_found)
            Error("quiet")
            with HTTP():
                POST("/")
                with Response("div_by_zero", StatusBadRequest):
                    Description("Response used for division by zero errors")
                    Header("code:X-Code")
                Response("timeout", StatusGatewayTimeout)
                Response("unauthorized", StatusUnauthorized)
                Response("missing", StatusNotFound)
                Response("gone", StatusGone)
                with Response("quiet", StatusConflict):
                    Body(Empty)
                    Header("id:X-Error-Id")
    return api


class Calc:
    async def divide(self, p: typing.Any) -> typing.Any:
        case = p.case
        if case == "div":
            raise bastion.make_error("div_by_zero", value={"message": "divide by zero",
                                                            "code": "E0"})
        if case == "div-message":
            raise bastion.make_error("div_by_zero", "from the message")
        if case == "timeout":
            raise bastion.make_error("timeout", "took too long")
        if case == "unauthorized":
            raise bastion.make_error("unauthorized", "no such user")
        if case == "named-by-value":
            raise bastion.make_error(None, value={"kind": "gone", "id": "7"})
        if case == "bad-value":
            raise bastion.make_error("div_by_zero", value={"code": "no message"})
        if case == "undeclared":
            raise bastion.make_error("nope", "not in the design")
        raise bastion.make_error("quiet", "shh")


async def call(case: str) -> typing.Any:
    logs = LogCapture(level="info")
    app = quiet_app(calc_design(), {"calc": Calc()}, logger=logs.logger)
    async with TestClient(app) as c:
        r = await c.post("/", json={"case": case})
    return r, logs


async def test_a_custom_error_type_is_the_body_with_goa_error_and_headers() -> None:
    r, _ = await call("div")
    # Goa's EncodeDivideError for div_by_zero: goa-error set, 400, the DivByZero body.
    assert r.status_code == 400
    assert r.headers["goa-error"] == "div_by_zero"
    assert r.headers["x-code"] == "E0"
    assert r.json() == {"message": "divide by zero"}


async def test_a_custom_error_without_value_takes_the_message() -> None:
    r, _ = await call("div-message")
    assert r.status_code == 400 and r.json() == {"message": "from the message"}


async def test_error_result_keeps_the_error_object_and_its_flags() -> None:
    r, _ = await call("timeout")
    assert r.status_code == 504 and r.headers["goa-error"] == "timeout"
    body = r.json()
    assert {k: body[k] for k in ("name", "message", "temporary", "timeout", "fault")} == {
        "name": "timeout", "message": "took too long", "temporary": False, "timeout": True,
        "fault": False}
    assert body["id"]


async def test_a_string_error_is_a_json_string() -> None:
    r, _ = await call("unauthorized")
    assert r.status_code == 401 and r.headers["goa-error"] == "unauthorized"
    assert r.json() == "no such user"


async def test_the_error_name_can_come_from_the_value() -> None:
    r, _ = await call("named-by-value")
    assert r.status_code == 410 and r.headers["goa-error"] == "gone"
    assert r.json() == {"kind": "gone", "id": "7"}


async def test_body_empty_sends_headers_only() -> None:
    r, _ = await call("quiet")
    assert r.status_code == 409 and r.headers["goa-error"] == "quiet"
    assert r.content == b"" and r.headers["x-error-id"]
    assert "content-type" not in r.headers


async def test_a_bad_error_value_or_an_undeclared_error_is_a_logged_500() -> None:
    for case in ("bad-value", "undeclared"):
        r, logs = await call(case)
        assert r.status_code == 500 and "goa-error" not in r.headers
        assert r.json()["name"] == "internal"
        line = next(x for x in logs.lines if x.get("msg") == "unexpected error")
        assert line["error.id"] == r.json()["id"]


def tagged_error_design() -> typing.Any:
    with API("tagged") as api:
        pass
    with Type("Problem") as problem:
        Attribute("kind", String)
        Attribute("detail", String)
        Required("kind")
    with Service("s"), Method("m"):
        with Payload():
            Attribute("kind", String)
        Error("problem", problem)
        with HTTP():
            POST("/m")
            Response("problem", StatusBadRequest)
            with Response("problem", StatusConflict):
                Tag("kind", "conflict")
    return api


class Problems:
    async def m(self, p: typing.Any) -> typing.Any:
        raise bastion.make_error("problem", value={"kind": p.kind, "detail": "d"})


async def test_a_tag_picks_among_an_errors_responses() -> None:
    async with TestClient(quiet_app(tagged_error_design(), {"s": Problems()})) as c:
        conflict = await c.post("/m", json={"kind": "conflict"})
        other = await c.post("/m", json={"kind": "other"})
    assert conflict.status_code == 409 and conflict.headers["goa-error"] == "problem"
    assert other.status_code == 400 and other.json() == {"kind": "other", "detail": "d"}
