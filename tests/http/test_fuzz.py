"""Property tests: no request a client can send makes the decoder answer 500."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.http.test_decoder import STORE, shop_design
from tests.support.asgi import Reply, Wire, call

BODY_PATHS = ["/items", "/batch", f"/stores/{STORE}/notes", f"/stores/{STORE}/items/1"]
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
CLIENT_ERRORS = {400, 413, 415}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["sku", "qty", "children", "text", "priority", "store",
                                       "x", ""]), inner, max_size=5),
    max_leaves=30,
)


def request(runner: asyncio.Runner, app: Any, path: str, body: bytes, *,
            headers: list[tuple[str, str]], query: str = "") -> Reply:
    method = "PUT" if path.endswith("/items/1") else "POST"
    headers = [*headers, ("x-request-id", "fuzz"), ("cookie", "sid=alpha")]
    return runner.run(call(app, method, path, wire=Wire([body]), headers=headers, query=query))


def check(reply: Reply, ok: set[int]) -> None:
    assert reply.status in ok | CLIENT_ERRORS, (reply.status, reply.body[:300])
    if reply.status >= 400:
        body = msgspec.json.decode(reply.body)
        assert body["name"] != "internal"
        assert {"name", "id", "message"} <= set(body)


def test_random_bytes_as_a_body_never_cause_a_500() -> None:
    app, _ = shop_design(max_body_bytes=4096)
    with asyncio.Runner() as runner:

        @SETTINGS
        @given(body=st.binary(max_size=512), path=st.sampled_from(BODY_PATHS))
        @example(body=b"\x00", path="/items")
        @example(body=b'{"sku": "ABC-1", "qty": 1}\xff', path="/items")
        @example(body=b"[]", path=f"/stores/{STORE}/notes")
        @example(body=b"null", path="/batch")
        @example(body=b'"\\ud800"', path="/items")
        @example(body=b"1e999999", path="/batch")
        def prop(body: bytes, path: str) -> None:
            reply = request(runner, app, path, body, headers=[("content-type", "application/json")])
            check(reply, {201, 204})

        prop()


def test_random_json_values_never_cause_a_500() -> None:
    app, _ = shop_design()
    with asyncio.Runner() as runner:

        @SETTINGS
        @given(value=json_values, path=st.sampled_from(BODY_PATHS))
        def prop(value: Any, path: str) -> None:
            body = msgspec.json.encode(value)
            reply = request(runner, app, path, body, headers=[("content-type", "application/json")])
            check(reply, {201, 204})

        prop()


def test_random_content_types_and_query_strings_never_cause_a_500() -> None:
    app, _ = shop_design()
    header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
    with asyncio.Runner() as runner:

        @SETTINGS
        @given(ctype=header_text, query=header_text, path=st.sampled_from(BODY_PATHS))
        def prop(ctype: str, query: str, path: str) -> None:
            reply = request(runner, app, path, b'{"sku": "ABC-1", "qty": 1}',
                            headers=[("content-type", ctype)], query=query)
            check(reply, {201, 204})

        prop()
