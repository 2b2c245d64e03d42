"""Results as server-sent events: the text of each field, as Goa's generated server writes it."""

from __future__ import annotations

from typing import Any

import pytest

import bastion
from bastion.dsl import *
from bastion.dsl._streams import sse_of
from bastion.http.sse import EventFormat
from bastion.operations import ResultMismatch


class _Impl:
    async def feed(self) -> Any:
        yield {}

    async def whole(self) -> Any:
        yield {}


def _formats() -> tuple[EventFormat, EventFormat]:
    with API("sse") as api:
        pass
    with Type("Event") as event:
        Attribute("id", String)
        Attribute("kind", String)
        Attribute("retry", Int)
        Attribute("data", Any)
    with Service("s"):
        with Method("feed"):
            NoSecurity()
            StreamingResult(event)
            with HTTP():
                GET("/feed")
                with ServerSentEvents("data"):
                    SSEEventID("id")
                    SSEEventType("kind")
                    SSEEventRetry("retry")
        with Method("whole"):
            NoSecurity()
            StreamingResult(event)
            with HTTP():
                GET("/whole")
                ServerSentEvents()
    app = bastion.App(api, services={"s": _Impl()}, observe=False, docs=False)
    formats = []
    for name in ("feed", "whole"):
        op = app.operations[("s", name)]
        sse = sse_of(op.expr)
        assert sse is not None
        formats.append(EventFormat(op, sse))
    return formats[0], formats[1]


def _event(fmt: EventFormat, **value: Any) -> bytes:
    op_value = type("Value", (), value)()
    return fmt(op_value)


@pytest.mark.parametrize(("data", "text"), [
    ("plain", b"data: plain\n"),
    ("two\r\nlines\nhere", b"data: two\ndata: lines\ndata: here\n"),
    ("", b"data: \n"),
    (True, b"data: true\n"),
    (42, b"data: 42\n"),
    (2.5, b"data: 2.5\n"),
    ({"a": [1, "x"]}, b'data: {"a":[1,"x"]}\n'),
])
def test_data_is_text_for_strings_and_numbers_and_json_otherwise(data: Any, text: bytes) -> None:
    feed, _ = _formats()
    assert _event(feed, id=None, kind=None, retry=None, data=data) == text + b"\n"


def test_id_event_and_retry_come_first_and_are_left_out_when_empty() -> None:
    feed, _ = _formats()
    full = _event(feed, id="7", kind="note", retry=1500, data="x")
    assert full == b"id: 7\nevent: note\nretry: 1500\ndata: x\n\n"
    assert _event(feed, id="", kind=None, retry=0, data="x") == b"data: x\n\n"


def test_an_id_that_is_not_one_line_is_a_result_mismatch() -> None:
    feed, _ = _formats()
    with pytest.raises(ResultMismatch, match="one line"):
        _event(feed, id="1\n2", kind=None, retry=None, data="x")


def test_without_a_data_attribute_the_whole_result_is_json() -> None:
    _, whole = _formats()
    assert whole({"id": "1", "data": [1]}) == b'data: {"id":"1","data":[1]}\n\n'
