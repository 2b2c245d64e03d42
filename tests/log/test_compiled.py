"""The compiled JSON path writes exactly what the general path writes, for every shape it takes."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanContext, TraceFlags

from bastion.log import STANDARD_KEYS, Logger
from bastion.log._format import INFO, WARN

_SCALARS = st.one_of(
    st.text(max_size=12), st.integers(-(10**6), 10**6), st.floats(allow_nan=False),
    st.booleans(), st.none(),
)
_VALUES = st.one_of(_SCALARS, st.lists(st.integers(), max_size=3))
_KEYS = st.one_of(st.sampled_from(STANDARD_KEYS), st.sampled_from(["time", "msg", "level"]),
                  st.sampled_from(["user", "tenant", "message", "fields.time"]),
                  # Any text is a key: quotes, backslashes and newlines must stay data.
                  st.text(max_size=6))
_SPAN = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False,
                    trace_flags=TraceFlags(1))


def _logger(**kw: Any) -> Logger:
    return Logger(stream=io.StringIO(), format="json", sync=True, **kw)


def _general(logger: Logger, call: tuple[Any, ...]) -> str:
    t, rank, msg, pairs = logger._pairs(call)
    return logger._render(t, rank, msg, pairs)


@settings(max_examples=500, deadline=None)
@given(
    context=st.dictionaries(_KEYS, _VALUES, max_size=5),
    own=st.lists(st.tuples(_KEYS, _VALUES), max_size=6),
    span=st.booleans(),
    service=st.sampled_from([None, "orders"]),
    msg=st.one_of(st.text(max_size=8), st.integers()),
    max_keys=st.integers(1, 12),
)
def test_the_compiled_path_writes_what_the_general_path_writes(
    context: dict[str, Any], own: list[tuple[str, Any]], span: bool, service: str | None,
    msg: Any, max_keys: int,
) -> None:
    logger = _logger(service=service, max_keys=max_keys)
    kv = dict(own)
    call = (time.time(), INFO, msg, None, context, kv, _SPAN if span else None, None)
    compiled = logger._compiled
    assert compiled is not None
    line = compiled.line(call[0], INFO, msg, context, kv, call[6], service)
    if line is not None:
        assert line == _general(logger, call)


_CONTEXT = {"request_id": "0123456789abcdef", "service": "orders", "method": "create"}


def _request_line(logger: Logger, kv: dict[str, Any], t: float = 0.0) -> str | None:
    compiled = logger._compiled
    assert compiled is not None
    return compiled.line(t, INFO, "end", _CONTEXT, kv, _SPAN, logger.service)


def test_the_request_logs_lines_take_the_compiled_path() -> None:
    logger = _logger(service="orders")
    start = {"http.request.method": "POST", "url.path": "/orders", "client.address": "::1"}
    end = {"http.request.method": "POST", "url.path": "/orders", "http.route": "/orders",
           "http.response.status_code": 201, "http.time_ms": 0.2,
           "http.response.body.size": 12, "client.address": "::1"}
    for kv in (start, end):
        line = _request_line(logger, kv, t=1.5)
        assert line is not None
        assert line == _general(logger, (1.5, INFO, "end", None, _CONTEXT, kv, _SPAN, None))


def test_lines_it_cannot_write_take_the_general_path() -> None:
    logger = _logger(max_keys=8)
    compiled = logger._compiled
    assert compiled is not None
    # Any order of keys, user keys too, is a shape it compiles...
    assert _request_line(logger, {"url.path": "/", "http.request.method": "GET"}) is not None
    assert _request_line(logger, {"user": "ada"}) is not None
    # ...but a container, too long a value, too many keys, an `err`, or a message that is
    # not text need the general path.
    assert _request_line(logger, {"url.path": ["/"]}) is None
    assert _request_line(logger, {"url.path": "x" * 5000}) is None
    assert _request_line(logger, {f"k{i}": i for i in range(8)}) is None
    assert compiled.line(0.0, INFO, "x", {"err": "boom"}, {}, None, None) is None
    assert compiled.line(0.0, WARN, ValueError("boom"), {}, {}, None, None) is None


def test_loggers_that_need_the_general_path_have_no_compiled_one() -> None:
    assert _logger(keys={"url.path": "path"})._compiled is None
    assert _logger(file_location=True)._compiled is None
    assert Logger(stream=io.StringIO(), format="logfmt", sync=True)._compiled is None
    written = io.StringIO()
    logger = Logger(stream=written, format="json", sync=True)
    logger.write_info("end", {"http.request.method": "GET", "url.path": "/"})
    assert written.getvalue().startswith('{"time":')
    assert '"msg":"end","http.request.method":"GET","url.path":"/"}' in written.getvalue()


def test_a_service_name_set_later_is_on_the_next_line() -> None:
    written = io.StringIO()
    logger = Logger(stream=written, format="json", sync=True)
    logger.write_info("start", {"url.path": "/"})
    logger.service = "orders"  # as the App does, after the Logger was made
    logger.write_info("start", {"url.path": "/"})
    first, second = written.getvalue().splitlines()
    assert "service.name" not in first
    assert '"service.name":"orders","url.path":"/"' in second


def test_a_request_whose_context_holds_a_container_writes_its_lines_capped() -> None:
    # The observer's lines trust the context's flat flag (bastion.log._state.State.flat):
    # a list bound by a handler must still reach the general path and its item cap.
    from bastion import log
    from bastion.log._context import enter_request, leave_request

    written = io.StringIO()
    logger = Logger(stream=written, format="json", sync=True, max_items=2)
    kv = {"http.request.method": "GET", "url.path": "/"}
    token, held = enter_request(logger, {"request_id": "r-1"}, False, flat=True)
    try:
        logger.request_line("start", tuple(kv), tuple(kv.values()), None)
        log.bind(tags=[1, 2, 3, 4])
        logger.request_line("end", tuple(kv), tuple(kv.values()), None)
        with log.fields(more={"a": [1, 2, 3]}):
            logger.request_line("inner", tuple(kv), tuple(kv.values()), None)
    finally:
        leave_request(token, held, logger, None)
    start, end, inner = (json.loads(line) for line in written.getvalue().splitlines())
    assert start["request_id"] == "r-1" and "tags" not in start
    general_end = _general(logger, (0.0, INFO, "end", None,
                                    {"request_id": "r-1", "tags": [1, 2, 3, 4]}, kv, None, None))
    assert end["tags"] == json.loads(general_end)["tags"]
    assert end["tags"] != [1, 2, 3, 4]  # capped at two items, with the general path's marker
    general_inner = _general(logger, (0.0, INFO, "inner", None,
                                      {"request_id": "r-1", "tags": [1, 2, 3, 4],
                                       "more": {"a": [1, 2, 3]}}, kv, None, None))
    assert (inner["tags"], inner["more"]) == (end["tags"], json.loads(general_inner)["more"])


def test_request_lines_give_each_line_its_own_spans_ids() -> None:
    # The compiled path's ids cache is one (span, trace id, span id) tuple: lines of
    # interleaved requests never pair one span with another's ids.
    from bastion.log._context import enter_request, leave_request

    written = io.StringIO()
    logger = Logger(stream=written, format="json", sync=True)
    other = SpanContext(0x1, 0x2, is_remote=False, trace_flags=TraceFlags(1))
    token, held = enter_request(logger, {"request_id": "r-1"}, False, flat=True)
    try:
        for span in (_SPAN, other, _SPAN, _SPAN, other):
            logger.request_line("end", ("url.path",), ("/",), span)
    finally:
        leave_request(token, held, logger, None)
    ids = [(line["trace_id"], line["span_id"])
           for line in map(json.loads, written.getvalue().splitlines())]
    first = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    second = ("0" * 31 + "1", "0" * 15 + "2")
    assert ids == [first, second, first, first, second]
