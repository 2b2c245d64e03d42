"""The calc example (Goa's error example) through a real server, against Goa's wire.

Expectations name the functions of Goa's generated `examples/error/gen/http/calc/server/
encode_decode.go` whose behaviour they check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from examples.calc.design import api as calc_api

from tests.support.clients import forget_clients, generated_client
from tests.support.examples import Example, example

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with example("calc", tmp_path_factory.mktemp("calc")) as running:
        yield running


@pytest.fixture(scope="module")
def c(calc: Example) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=calc.api, timeout=10) as client:
        yield client


def test_divide_answers_the_result(c: httpx.Client) -> None:
    r = c.post("/", json={"dividend": 7, "divisor": 2})
    # EncodeDivideResponse: 200, NewDivideResponseBody.
    assert r.status_code == 200 and r.json() == {"quotient": 3, "reminder": 1}
    # Go's integer division truncates toward zero.
    assert c.post("/", json={"dividend": -7, "divisor": 2}).json() == {"quotient": -3,
                                                                       "reminder": -1}


def test_division_by_zero_is_its_own_type_with_goa_error(c: httpx.Client) -> None:
    r = c.post("/", json={"dividend": 1, "divisor": 0})
    # EncodeDivideError, "div_by_zero": goa-error, 400, NewDivideDivByZeroResponseBody.
    assert r.status_code == 400 and r.headers["goa-error"] == "div_by_zero"
    assert r.json() == {"message": "divide by zero"}


def test_a_timeout_is_an_error_result_at_504(c: httpx.Client) -> None:
    r = c.post("/", json={"dividend": 42, "divisor": 1})
    # EncodeDivideError, "timeout": goa-error, 504, NewDivideTimeoutResponseBody (the
    # ErrorResult fields, timeout true as the design declares).
    assert r.status_code == 504 and r.headers["goa-error"] == "timeout"
    body = r.json()
    assert {k: body[k] for k in ("name", "temporary", "timeout", "fault")} == {
        "name": "timeout", "temporary": False, "timeout": True, "fault": False}
    assert body["id"] and body["message"]


def test_requests_goa_refuses_are_refused(c: httpx.Client) -> None:
    # DecodeDivideRequest: io.EOF -> missing_payload; ValidateDivideRequestBody ->
    # missing fields (Goa names the first, Bastion each).
    missing = c.post("/", headers={"Content-Type": "application/json"})
    assert missing.status_code == 400 and missing.json()["name"] == "missing_payload"
    partial = c.post("/", json={})
    assert partial.status_code == 400
    assert {e["field"] for e in partial.json()["errors"]} == {"dividend", "divisor"}
    # `add` has no HTTP mapping: no route, as in Goa (its paths.go has DivideCalcPath only).
    assert c.post("/add", json={"a": 1, "b": 2}).status_code == 404


def test_the_default_api_is_named_after_the_service(c: httpx.Client) -> None:
    doc = c.get("/openapi.json").json()
    assert doc["info"] == {"title": "calc", "version": "0.0.1"}
    div = doc["paths"]["/"]["post"]["responses"]
    assert div["400"]["headers"]["Goa-Error"]["schema"]["enum"] == ["div_by_zero"]
    assert div["504"]["description"].startswith("timeout: Operation timed out")


def test_the_generated_client_decodes_the_typed_error_into_value(
        calc: Example, tmp_path: Path) -> None:
    cc = generated_client(calc_api, "calc_client", tmp_path)
    try:
        with cc.Client(calc.api) as client:
            assert client.calc.divide(dividend=7, divisor=2).quotient == 3
            with pytest.raises(cc.DivByZeroError) as caught:
                client.calc.divide(dividend=1, divisor=0)
            with pytest.raises(cc.TimeoutError) as timed_out:
                client.calc.divide(dividend=42, divisor=1)
    finally:
        forget_clients(tmp_path, "calc_client")
    err = caught.value
    # The body is the DivByZero value itself, not an error object: `value` holds it.
    assert err.value == cc.DivByZero(message="divide by zero")
    assert (err.status, err.name, err.body) == (400, "div_by_zero", None)
    # An ErrorResult error keeps the error object: `body` holds it, there is no `value`.
    assert timed_out.value.body is not None and timed_out.value.body.timeout is True
    assert timed_out.value.value is None
