"""Streams over HTTP in the DSL: ServerSentEvents and its fields, and the checks of both."""

from __future__ import annotations

import pytest

from bastion.dsl import *
from bastion.dsl._streams import sse_of
from tests.dsl.support import finalize_error
from tests.support.lines import at, next_line


def _event_type() -> UserTypeExpr:
    with Type("Event") as event:
        Attribute("id", String)
        Attribute("kind", String)
        Attribute("text", String)
        Attribute("retry", Int)
        Attribute("tags", ArrayOf(String))
        Required("text")
    return event


def test_server_sent_events_name_the_result_attributes_of_each_field() -> None:
    with API("a") as api:
        pass
    event = _event_type()
    with Service("s"), Method("feed"):
        NoSecurity()
        with Payload():
            Attribute("since", String)
        StreamingResult(event)
        with HTTP():
            GET("/feed")
            with ServerSentEvents("text"):
                SSEEventID("id")
                SSEEventType("kind")
                SSEEventRetry("retry")
                SSERequestID("since")
    api.finalize()
    m = api.services["s"].methods["feed"]
    sse = sse_of(m)
    assert sse is not None
    assert (sse.data, sse.id, sse.event, sse.retry, sse.request_id) == (
        "text", "id", "kind", "retry", "since")
    # SSERequestID reads the payload attribute from the header EventSource sends.
    assert m.http is not None and m.http.headers == {"since": "Last-Event-ID"}


def test_sse_at_the_service_level_serves_server_streams_and_leaves_client_streams() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with HTTP():
            ServerSentEvents()
        with Method("ticks"):
            NoSecurity()
            StreamingResult(Int)
            with HTTP():
                GET("/ticks")
        with Method("chat"):
            NoSecurity()
            StreamingPayload(String)
            StreamingResult(String)
            with HTTP():
                GET("/chat")
    api.finalize()
    methods = api.services["s"].methods
    ticks = sse_of(methods["ticks"])
    assert ticks is not None and ticks.data is None  # the whole result is the data
    assert sse_of(methods["chat"]) is None  # a client stream: WebSocket, as in Goa


def test_a_stream_over_http_takes_a_get_route_and_no_body() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("up"):
        NoSecurity()
        with Payload():
            Attribute("name", String)
            Attribute("note", String)
        StreamingPayload(String)
        StreamingResult(String)
        with HTTP():
            post = next_line()
            POST("/up")
            body = next_line()
            Body("note")
    message = finalize_error(api)
    assert at(post) in message and "takes a GET route, not POST" in message
    assert at(body) in message and "a stream has no request body" in message


def test_each_sse_field_must_name_an_attribute_of_the_right_type() -> None:
    with API("a") as api:
        pass
    event = _event_type()
    with Service("s"), Method("feed"):
        NoSecurity()
        with Payload():
            Attribute("since", Int)
        StreamingResult(event)
        with HTTP():
            GET("/feed")
            with ServerSentEvents():
                data = next_line()
                SSEEventData("body")
                event_id = next_line()
                SSEEventID("retry")
                kind = next_line()
                SSEEventType("tags")
                retry = next_line()
                SSEEventRetry("text")
                since = next_line()
                SSERequestID("since")
    message = finalize_error(api)
    assert at(data) in message and "SSE data attribute 'body' is not an attribute" in message
    assert at(event_id) in message and "SSE id attribute 'retry' must be string" in message
    assert at(kind) in message and "SSE event type attribute 'tags' must be string" in message
    assert at(retry) in message and "SSE retry attribute 'text' must be integer" in message
    assert at(since) in message and "SSERequestID 'since' must be a string" in message


def test_sse_needs_a_server_stream_that_reads_no_client_stream() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("plain"):
            NoSecurity()
            Result(String)
            with HTTP():
                GET("/plain")
                plain = next_line()
                ServerSentEvents()
        with Method("both"):
            NoSecurity()
            StreamingPayload(String)
            StreamingResult(String)
            with HTTP():
                GET("/both")
                both = next_line()
                ServerSentEvents()
    message = finalize_error(api)
    assert at(plain) in message and "ServerSentEvents needs a StreamingResult" in message
    assert at(both) in message and "server-sent events go one way only" in message


def test_sse_misuse_is_refused_at_the_call() -> None:
    with API("a"):
        pass
    with Service("s"), Method("m"):
        with pytest.raises(DesignError, match="must be called inside a ServerSentEvents"):
            SSEEventID("id")
        with pytest.raises(DesignError, match="must be called inside an HTTP block"):
            ServerSentEvents()
        with HTTP():
            ServerSentEvents()
            line = next_line()
            with pytest.raises(DesignError, match="declared twice") as twice:
                ServerSentEvents()
            assert str(twice.value).startswith(at(line + 1))
