"""The feed example: server-sent events read by httpx (and a raw socket) from a real server.

The event fields as Goa maps them, `Last-Event-ID` given to the method, heartbeats,
`WRITE_TIMEOUT` bounding each write (a long stream lives, a stalled reader is cut), the
client leaving ending the method, and the drain ending streams cleanly. A stalled reader
cut at WRITE_TIMEOUT is in tests/http/test_streams.py (it needs large events).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.examples import Example, example
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

KEY = "desk-key-" + "k" * 20
ENV = {"FEED_KEYS": f"desk:{KEY}", "SSE_HEARTBEAT": "0.2s", "WRITE_TIMEOUT": "1s"}


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with example("feed", tmp_path_factory.mktemp("feed"), ENV) as running:
        yield running


@pytest.fixture(scope="module")
def published(feed: Example) -> list[dict[str, str]]:
    notices = []
    for body in ({"text": "first line\nsecond line"}, {"text": "on fire", "kind": "alert"},
                 {"text": "third"}):
        r = httpx.post(feed.api + "/notices", json=body, headers={"X-API-Key": KEY}, timeout=10)
        assert r.status_code == 201, r.text
        notices.append(r.json())
    return notices


class Events:
    """An event stream read line by line: its events and how many comment lines came."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.comments = 0

    def next(self) -> list[tuple[str, str]]:
        """The fields of the next event, in order."""
        fields: list[tuple[str, str]] = []
        for line in self.lines:
            if line.startswith(":"):
                self.comments += 1
            elif line == "":
                if fields:
                    return fields
            else:
                name, _, value = line.partition(": ")
                fields.append((name, value))
        raise EOFError(f"the stream ended (fields so far: {fields})")


def test_each_result_is_an_event_with_the_fields_the_design_maps(
    feed: Example, published: list[dict[str, str]],
) -> None:
    with httpx.stream("GET", feed.api + "/notices", timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["cache-control"] == "no-cache"
        events = Events(r.iter_lines())
        # id, event and retry from the notice's attributes; the text as data, a data
        # line for each of its lines; retry with the first event only (the service's).
        assert events.next() == [("id", published[0]["id"]), ("event", "note"),
                                 ("retry", "2000"), ("data", "first line"),
                                 ("data", "second line")]
        assert events.next() == [("id", published[1]["id"]), ("event", "alert"),
                                 ("data", "on fire")]


def test_last_event_id_is_given_to_the_method(
    feed: Example, published: list[dict[str, str]],
) -> None:
    headers = {"Last-Event-ID": published[1]["id"]}
    with httpx.stream("GET", feed.api + "/notices", headers=headers, timeout=10) as r:
        first = Events(r.iter_lines()).next()
    assert ("id", published[2]["id"]) in first and ("data", "third") in first
    with httpx.stream("GET", feed.api + "/notices?kind=alert", timeout=10) as r:
        assert ("data", "on fire") in Events(r.iter_lines()).next()


def test_a_bad_request_is_refused_before_the_stream_naming_each_field(feed: Example) -> None:
    r = httpx.get(feed.api + "/notices?kind=gossip", headers={"Last-Event-ID": "x"}, timeout=10)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert {(e["field"], e["in"]) for e in r.json()["errors"]} == {
        ("kind", "query"), ("Last-Event-ID", "header")}


def test_whole_results_are_json_and_silence_is_filled_with_heartbeats(feed: Example) -> None:
    # Three ticks 0.7 s apart: longer than WRITE_TIMEOUT (1 s), which bounds each write
    # of a stream, not the stream.
    with httpx.stream("GET", feed.api + "/clock?count=3&every=0.7", timeout=10) as r:
        events = Events(r.iter_lines())
        ticks = [events.next() for _ in range(3)]
        with pytest.raises(EOFError):
            events.next()  # the method returned: the stream ended, cleanly
    assert [json.loads(t[0][1]) for t in ticks] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert all(len(t) == 1 and t[0][0] == "data" for t in ticks)
    assert events.comments >= 2  # `: heartbeat` every SSE_HEARTBEAT of silence


def test_a_client_that_leaves_ends_its_stream(feed: Example) -> None:
    with httpx.stream("GET", feed.api + "/notices", timeout=10,
                      headers={"X-Request-ID": "leaves-early"}) as r:
        Events(r.iter_lines()).next()
    wait_until(lambda: any(line.get("request_id") == "leaves-early" and line.get("msg") == "end"
                           for line in feed.lines()), timeout=10)


def test_the_drain_ends_streams_cleanly_so_clients_reconnect(tmp_path: Path) -> None:
    with example("feed", tmp_path, {**ENV, "SHUTDOWN_TIMEOUT": "10s"}) as running:
        httpx.post(running.api + "/notices", json={"text": "before"},
                   headers={"X-API-Key": KEY}, timeout=10)
        with httpx.stream("GET", running.api + "/notices", timeout=10) as r:
            events = Events(r.iter_lines())
            assert ("data", "before") in events.next()
            running.process.send_signal(signal.SIGTERM)
            with pytest.raises(EOFError):
                events.next()  # the last chunk came: a finished stream, not a broken one
        assert running.process.wait(timeout=15) == 0
        # Ended when the drain began, not cancelled when SHUTDOWN_TIMEOUT ran out.
        assert not [x for x in running.lines() if str(x.get("msg", "")).startswith(
            "request cancelled")]
