"""The DSL of bodies: where each function may be called, and what finalize refuses."""

from __future__ import annotations

import pytest

from bastion.dsl import *
from tests.dsl.support import finalize_error
from tests.support.lines import at, next_line


def test_body_functions_are_refused_outside_a_methods_http_block() -> None:
    with API("a"):
        with HTTP():
            with pytest.raises(DesignError, match="inside the HTTP block of a Method") as info:
                line = next_line()
                MultipartRequest()
            assert at(line) in str(info.value)
    with Service("s"), Method("m"), HTTP():
        GET("/")
        with pytest.raises(DesignError, match="must be called inside a Response block"):
            ContentType("text/plain")


def test_bad_content_types_and_limits_are_refused_where_written() -> None:
    with API("a"), Service("s"), Method("m"), HTTP():
        GET("/")
        with Response(StatusOK), pytest.raises(DesignError, match="is not a media type"):
            ContentType("plain")
        with pytest.raises(DesignError, match="max_parts=0"):
            BodyLimits(max_parts=0)
        with pytest.raises(DesignError, match="read_timeout='soon'"):
            BodyLimits(read_timeout="soon")
        BodyLimits(max_bytes=10)
        with pytest.raises(DesignError, match="BodyLimits is set twice"):
            BodyLimits(max_bytes=20)


def test_a_raw_request_body_leaves_no_payload_attribute_unmapped() -> None:
    with API("a") as api, Service("s"), Method("put"):
        with Payload():
            Attribute("id", String)
            Attribute("note", String)
        with HTTP():
            PUT("/{id}")
            line = next_line()
            SkipRequestBodyEncodeDecode()
    message = finalize_error(api)
    assert at(line) in message
    assert "attribute(s) 'note' must be mapped to the path, a Param, a Header or a Cookie" \
        in message


def test_a_streamed_response_maps_every_result_attribute_to_a_header() -> None:
    with API("a") as api, Service("s"), Method("get"):
        with Result():
            Attribute("length", Int)
            Attribute("name", String)
        with HTTP():
            GET("/")
            SkipResponseBodyEncodeDecode()
            with Response(StatusOK):
                Header("length:Content-Length")
    assert "result attribute(s) 'name' must be mapped to a Header" in finalize_error(api)


def test_raw_bodies_refuse_streams_and_multipart_both() -> None:
    with API("a") as api, Service("s"):
        with Method("both"):
            with Payload():
                Attribute("f", File)
            with HTTP():
                POST("/both")
                MultipartRequest()
                SkipRequestBodyEncodeDecode()
        with Method("stream"):
            StreamingResult(String)
            with HTTP():
                GET("/stream")
                SkipResponseBodyEncodeDecode()
    message = finalize_error(api)
    assert "SkipRequestBodyEncodeDecode and MultipartRequest both" in message
    assert "cannot be used with a StreamingPayload or StreamingResult" in message


def test_a_file_is_only_a_multipart_part() -> None:
    with API("a") as api, Service("s"), Method("m"):
        with Payload():
            line = next_line()
            Attribute("f", File)
        with HTTP():
            POST("/")
    message = finalize_error(api)
    assert at(line) in message and "only a MultipartRequest() body carries" in message


def test_a_multipart_request_needs_a_payload() -> None:
    with API("a") as api, Service("s"), Method("m"):
        with HTTP():
            POST("/")
            MultipartRequest()
    assert "MultipartRequest needs a payload for the form" in finalize_error(api)


def test_a_well_formed_design_finalizes() -> None:
    with API("a") as api, Service("s"):
        with Method("up"):
            with Payload():
                Attribute("title", String)
                Attribute("files", ArrayOf(File))
            with HTTP():
                POST("/up")
                MultipartRequest()
                BodyLimits(max_bytes=1 << 30, max_parts=3, read_timeout="5m")
        with Method("down"):
            with HTTP():
                GET("/down")
                SkipResponseBodyEncodeDecode()
    api.finalize()
    bodies = api.services["s"].methods["up"].http.bodies  # type: ignore[union-attr]
    assert (bodies.max_body_bytes, bodies.max_parts, bodies.read_timeout) == (1 << 30, 3, 300.0)
