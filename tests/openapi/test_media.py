"""The document's media types: every codec, multipart forms, raw streams, 406."""

from __future__ import annotations

from typing import Any

from bastion.dsl import *
from tests.openapi.support import checked, op

STRUCTURED = ["application/json", "application/msgpack", "application/cbor"]


def design() -> APIExpr:
    with API("media") as api:
        pass
    with Type("Item") as item:
        Attribute("name", String)
    with Service("media"):
        with Method("make"):
            Payload(item)
            Result(item)
            with HTTP():
                POST("/items")
        with Method("say"):
            Payload(String)
            Result(String)
            with HTTP():
                POST("/say")
                with Response(StatusOK):
                    ContentType("text/plain")
        with Method("upload"):
            with Payload():
                Attribute("title", String, description="What the file is")
                Attribute("file", File, description="The file")
                Attribute("more", ArrayOf(File))
                Required("file")
            with HTTP():
                POST("/upload")
                MultipartRequest()
        with Method("put"):
            with Payload():
                Attribute("id", String)
                Required("id")
            with HTTP():
                PUT("/blobs/{id}")
                SkipRequestBodyEncodeDecode()
        with Method("get"):
            with HTTP():
                GET("/blobs")
                SkipResponseBodyEncodeDecode()
                with Response(StatusOK):
                    ContentType("application/zip")
    return api


def content(doc: dict[str, Any], verb: str, path: str, status: str | None = None) -> Any:
    operation = op(doc, verb, path)
    if status is None:
        return operation["requestBody"]["content"]
    return operation["responses"][status].get("content")


def test_bodies_list_every_codec_and_text_only_for_strings() -> None:
    doc = checked(design(), None)
    assert list(content(doc, "POST", "/items")) == STRUCTURED
    assert list(content(doc, "POST", "/items", "200")) == STRUCTURED
    assert list(content(doc, "POST", "/say")) == [*STRUCTURED, "text/plain"]
    assert list(content(doc, "POST", "/say", "200")) == ["text/plain"]  # ContentType
    assert "406" in op(doc, "POST", "/items")["responses"]
    assert "406" not in op(doc, "POST", "/say")["responses"]
    errors = doc["components"]["responses"]["BadRequest"]["content"]
    assert list(errors) == STRUCTURED


def test_a_multipart_body_describes_files_as_binary() -> None:
    doc = checked(design(), None)
    body = op(doc, "POST", "/upload")["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert list(body["content"]) == ["multipart/form-data"] and body["required"] is True
    assert schema["properties"]["file"] == {"type": "string", "format": "binary",
                                            "description": "The file"}
    assert schema["properties"]["more"]["items"] == {"type": "string", "format": "binary"}
    assert schema["required"] == ["file"]


def test_raw_streams_are_binary_in_their_content_type() -> None:
    doc = checked(design(), None)
    assert content(doc, "PUT", "/blobs/{id}") == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    assert content(doc, "GET", "/blobs", "200") == {
        "application/zip": {"schema": {"type": "string", "format": "binary"}}}


def test_the_apps_codecs_are_the_documents() -> None:
    doc = checked(design(), [("application/json", True)])
    assert list(content(doc, "POST", "/items")) == ["application/json"]
    assert "406" not in op(doc, "POST", "/items")["responses"]
