"""The runtime every generated client carries: retry rules, encodings, errors, credentials.

The rules are checked on real httpx objects; typed design errors against a small real
HTTP server on 127.0.0.1 that answers as Goa's servers do (`Goa-Error` and the error's
own type as the body), which a Bastion server of this version does not write yet.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from bastion.cli import _client_runtime as rt
from bastion.dsl import (
    API,
    HTTP,
    POST,
    Attribute,
    Error,
    Float64,
    Method,
    Payload,
    Required,
    Response,
    Result,
    Service,
    StatusBadRequest,
    String,
    Type,
)
from tests.support.clients import forget_clients, generated_client


def _response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers,
                          request=httpx.Request("GET", "http://127.0.0.1/x"))


def _error(status: int, **flags: Any) -> rt.APIError:
    body = {"name": "x", "id": "i", "message": "m", **flags}
    return rt.error_for(_response(status, body), {})


# ---------------------------------------------------------------------------- retries


def test_what_may_be_retried() -> None:
    retry = rt.Retry()
    # The error says temporary: any method.
    assert retry.allows(_error(503, temporary=True), idempotent=False)
    # A 429 was refused before it ran, whatever its body.
    assert retry.allows(rt.error_for(_response(429), {}), idempotent=False)
    # A timeout may have done the work: only an idempotent method is sent again.
    assert not retry.allows(_error(503, temporary=True, timeout=True), idempotent=False)
    assert retry.allows(_error(503, temporary=True, timeout=True), idempotent=True)
    # A gateway's 502/504 without Bastion's body: idempotent methods only.
    assert retry.allows(rt.error_for(_response(502), {}), idempotent=True)
    assert not retry.allows(rt.error_for(_response(502), {}), idempotent=False)
    assert not retry.allows(_error(400), idempotent=True)
    assert not retry.allows(_error(500, fault=True), idempotent=True)
    # Transport failures: a connection never opened sent nothing; a lost answer may have.
    request = httpx.Request("POST", "http://127.0.0.1/x")
    assert retry.allows(httpx.ConnectError("refused", request=request), idempotent=False)
    assert not retry.allows(httpx.ReadTimeout("slow", request=request), idempotent=False)
    assert retry.allows(httpx.ReadTimeout("slow", request=request), idempotent=True)


def test_waits_honour_retry_after_and_stay_within_attempts_and_total() -> None:
    retry = rt.Retry(attempts=3, total=10.0, backoff=0.5, max_backoff=0.8)
    assert retry.wait(1, 0.0, 2.0) == 2.0  # Retry-After as given
    assert retry.wait(1, 9.0, 2.0) is None  # it would end past the total budget
    assert retry.wait(3, 0.0, None) is None  # attempts spent
    first, second = retry.wait(1, 0.0, None), retry.wait(2, 0.0, None)
    assert first is not None and 0.25 <= first <= 0.5  # backoff, jittered down to half
    assert second is not None and 0.4 <= second <= 0.8  # doubled, capped at max_backoff
    assert rt.Retry.never().wait(1, 0.0, 0.0) is None
    with pytest.raises(ValueError, match="at least 1 attempt"):
        rt.Retry(attempts=0)


def test_retry_after_reads_seconds_and_dates() -> None:
    assert rt.retry_after("7") == 7.0
    assert rt.retry_after(None) is None and rt.retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    found = rt.retry_after(later)
    assert found is not None and 100 < found <= 120
    assert rt.retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0


# ---------------------------------------------------------------------------- encodings


def test_values_are_written_as_the_server_reads_them() -> None:
    assert [rt.text(v) for v in (True, False, 3, 2.5, "a b", b"\x00\xff")] == [
        "true", "false", "3", "2.5", "a b", "AP8="]
    assert rt.segment("a/b c") == "a%2Fb%20c"
    assert rt.rest("a/b c") == "a/b%20c"
    assert rt.params(("t", ["a", "b"]), ("n", None), ("f", True)) == [
        ("t", "a"), ("t", "b"), ("f", "true")]
    assert rt.headers(("X-L", ["en", "fr"]), ("X-N", None)) == [("X-L", "en, fr")]
    assert rt.json_object(("a", 1), ("b", None)) == b'{"a":1}'
    assert rt.json_body(None) is None


def test_a_payload_is_a_struct_or_its_fields_not_both() -> None:
    class P:
        def __init__(self, **fields: Any) -> None:
            self.fields = fields

    given = P(a=1)
    assert rt.payload(P, given, {}) is given
    assert rt.payload(P, None, {"a": 2}).fields == {"a": 2}
    with pytest.raises(TypeError, match="not both"):
        rt.payload(P, given, {"a": 2})


# ---------------------------------------------------------------------------- errors


def test_errors_are_chosen_by_goa_error_then_by_status() -> None:
    class Missing(rt.ServiceError):
        error_name = "missing"

    errors = {"missing": Missing}
    body = {"name": "missing", "id": "abc", "message": "no such thing"}
    named = rt.error_for(_response(404, body, **{"Goa-Error": "missing",
                                                 "X-Request-ID": "r-1"}), errors)
    assert type(named) is Missing and named.request_id == "r-1" and named.id == "abc"
    assert str(named) == "404 missing: no such thing (request r-1)"
    # The same body without the header: not a design error.
    assert type(rt.error_for(_response(404, body), errors)) is rt.APIError
    kinds = {status: type(rt.error_for(_response(status, {"name": "n"}), errors))
             for status in (400, 401, 403, 429, 500, 503, 418)}
    assert kinds == {400: rt.BadRequest, 401: rt.Unauthorized, 403: rt.Forbidden,
                     429: rt.TooManyRequests, 500: rt.ServerError,
                     503: rt.ServiceUnavailable, 418: rt.APIError}
    bare = rt.error_for(_response(502), errors)
    assert (bare.name, bare.body, bare.fault) == ("bad_gateway", None, True)


def test_a_bad_request_lists_every_field() -> None:
    body = {"name": "bad_request", "id": "i", "message": "2 invalid fields: a, b", "errors": [
        {"field": "a", "in": "query", "message": "Expected `int`"},
        {"field": "b", "in": "body", "message": "missing required field"}]}
    err = rt.error_for(_response(400, body), {})
    assert isinstance(err, rt.BadRequest) and err.fields == ["a", "b"]
    assert "\n  a (query): Expected `int`\n  b (body): missing required field" in str(err)


# ---------------------------------------------------------------------------- credentials


def test_credentials_go_where_each_method_reads_them_and_never_show() -> None:
    class Key(rt.APIKeyAuth):
        scheme = "key"

    class Token(rt.BearerAuth):
        scheme = "jwt"

    op = rt.Operation("s.m", "GET", "/m", rt.no_result,
                      requirements=(("jwt", "key"), ("key",)),
                      credentials={"key": ("cookie", "k"), "jwt": ("bearer", "Authorization")})
    calls = []

    def token() -> str:
        calls.append(1)
        return "tok-1"

    session = rt.Session("http://127.0.0.1", auth=[Key("secret"), Token(token)])
    both = session._prepare(op, rt.Request("GET", "/m"))
    assert both.headers == [("Authorization", "Bearer tok-1")] and both.cookies == [
        ("k", "secret")]
    assert calls == [1]  # a callable is asked for every request
    only_key = rt.Session("http://127.0.0.1", auth=[Key("secret")])
    assert only_key._prepare(op, rt.Request("GET", "/m")).cookies == [("k", "secret")]
    none = rt.Session("http://127.0.0.1")._prepare(op, rt.Request("GET", "/m"))
    assert none.headers == [] and none.cookies == []
    assert "secret" not in repr(Key("secret")) and repr(Key("secret")) == "Key(scheme='key')"
    with pytest.raises(ValueError, match="two credentials for scheme 'key'"):
        rt.Session("http://127.0.0.1", auth=[Key("a"), Key("b")])
    with pytest.raises(TypeError, match="names no security scheme"):
        rt.Session("http://127.0.0.1", auth=[rt.APIKeyAuth("a")])
    for s in (session, only_key):
        s.close()


# ---------------------------------------------------------------------------- typed errors


@contextlib.contextmanager
def _goa_server() -> Iterator[str]:
    """Answers `POST /divide` as Goa does: a typed error body named by `Goa-Error`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            payload = json.loads(self.rfile.read(length))
            if payload["b"] == 0:
                status, body = 400, {"message": "cannot divide by zero", "dividend": payload["a"]}
                extra = {"Goa-Error": "div_by_zero"}
            else:
                status, body, extra = 200, {"quotient": payload["a"] / payload["b"]}, {}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_typed_design_error_decodes_its_own_body(tmp_path: Any) -> None:
    with API("calc") as api:
        pass
    with Type("DivByZero") as div:
        Attribute("message", String)
        Attribute("dividend", Float64)
        Required("message", "dividend")
    with Service("calc"), Method("divide"):
        Error("div_by_zero", div, description="The divisor is zero")
        with Payload():
            Attribute("a", Float64)
            Attribute("b", Float64)
            Required("a", "b")
        with Result():
            Attribute("quotient", Float64)
            Required("quotient")
        with HTTP():
            POST("/divide")
            Response("div_by_zero", StatusBadRequest)
    cc = generated_client(api, "calc_client", tmp_path)
    try:
        with _goa_server() as url, cc.Client(url) as client:
            assert client.calc.divide(a=6, b=3).quotient == 2.0
            with pytest.raises(cc.DivByZeroError) as caught:
                client.calc.divide(a=6, b=0)
        err = caught.value
        assert err.value == cc.DivByZero(message="cannot divide by zero", dividend=6.0)
        assert (err.status, err.name, err.body) == (400, "div_by_zero", None)
    finally:
        forget_clients(tmp_path, "calc_client")
