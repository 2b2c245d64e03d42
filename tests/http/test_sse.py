"""Server-sent events: each field's text as Goa's server writes it, and streams that fail.

The failing ones are served by `bastion serve` (tests/support/streamed.py) and read with
httpx and a raw socket on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import bastion
from bastion.dsl import *
from bastion.dsl._streams import sse_of
from bastion.http.sse import EventFormat
from bastion.operations import ResultMismatch
from tests.support.served import Served, bastion_serve
from tests.support.waiting import wait_until


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


# -- streams that go wrong, through `bastion serve` ----------------------------------------


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {"WRITE_TIMEOUT": "1s", "SSE_HEARTBEAT": "0.2s"}
    with bastion_serve("tests.support.streamed:app", tmp_path_factory.mktemp("faulty"),
                       env=env) as running:
        yield running


def lines_of(served: Served) -> list[dict[str, Any]]:
    return [json.loads(x) for x in served.output().splitlines() if x.startswith("{")]


@pytest.mark.integration
def test_an_sse_error_before_the_first_event_is_its_http_status(faulty: Served) -> None:
    r = httpx.get(faulty.url + "/sse/missing", timeout=10)
    assert r.status_code == 404 and r.headers["goa-error"] == "not_found"
    assert r.json()["message"] == "no such feed"


@pytest.mark.integration
def test_an_sse_bug_after_the_head_cuts_the_stream(faulty: Served) -> None:
    got = []
    with pytest.raises(httpx.RemoteProtocolError), \
            httpx.stream("GET", faulty.url + "/sse/broken", timeout=10) as r:
        assert r.status_code == 200
        got.extend(r.iter_lines())
    assert "data: one" in got  # what came before the bug; then no clean end
    wait_until(lambda: any(x.get("msg") == "unexpected error" and "hunter2" not in str(x)
                           and x.get("url.path") == "/sse/broken" for x in lines_of(faulty)))


@pytest.mark.integration
def test_a_reader_that_stops_reading_is_cut_at_write_timeout(faulty: Served) -> None:
    port = int(faulty.url.rsplit(":", 1)[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /sse/flood HTTP/1.1\r\nHost: x\r\nX-Request-ID: stalled-reader\r\n\r\n")
    # Not reading: the server's writes stall, and one waits past WRITE_TIMEOUT (1 s).
    wait_until(lambda: any(x.get("request_id") == "stalled-reader" and x.get("msg") == "end"
                           for x in lines_of(faulty)), timeout=20)
    end = next(x for x in lines_of(faulty)
               if x.get("request_id") == "stalled-reader" and x.get("msg") == "end")
    assert end["aborted"] is True and end["http.response.status_code"] == 200
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 200") and not data.endswith(b"0\r\n\r\n")


