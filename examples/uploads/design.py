"""The uploads design: multipart forms, raw streamed uploads and downloads, content types.

`upload` reads a `multipart/form-data` form (a title, tags and a file); `put` and `sink`
take their body raw, as a stream, and `get` and `zeros` answer with one; `note` is
written in JSON, msgpack, CBOR or text as the client's `Accept` asks, and `text` always
as `text/plain` (`ContentType`). `stats` says what the service did, so a test can tell
that a download the client walked away from did not count.
"""

from __future__ import annotations

from bastion.dsl import *

with API("uploads") as api:
    Title("Uploads")
    Description("Multipart forms, raw streamed bodies and content negotiation.")
    Version("1.0.0")

with Type("FileInfo") as FileInfo:
    Attribute("id", String, description="Where the file is kept")
    Attribute("title", String)
    Attribute("tags", ArrayOf(String))
    Attribute("filename", String)
    Attribute("content_type", String)
    Attribute("size", Int64)
    Attribute("sha256", String)
    Required("id", "size", "sha256")

with Type("Note") as Note:
    Attribute("id", String)
    Attribute("text", String, max_length=1000)
    Attribute("stars", Int, minimum=0, maximum=5)
    Required("text")

with Type("Stats") as Stats:
    Attribute("blobs", Int)
    Attribute("bytes_received", Int64)
    Attribute("downloads_completed", Int)
    Attribute("downloads_cancelled", Int)
    Attribute("uploads_cancelled", Int)

with Service("storage"):
    with Method("upload"):
        Description("Store the file of a multipart form, with its title and tags.")
        with Payload():
            Attribute("title", String, min_length=1, max_length=80)
            Attribute("tags", ArrayOf(String, max_length=20), max_length=5)
            Attribute("file", File)
            Required("title", "file")
        Result(FileInfo)
        with HTTP():
            POST("/files")
            MultipartRequest()
            BodyLimits(max_bytes=64 << 20, max_parts=16, max_field_bytes=4096)
            Response(StatusCreated)

    with Method("put"):
        Description("Store the request body as blob `id`, streamed (any size).")
        with Payload():
            Attribute("id", String, pattern=r"^[a-z0-9-]{1,40}$")
            Required("id")
        Result(FileInfo)
        with HTTP():
            PUT("/blobs/{id}")
            SkipRequestBodyEncodeDecode()
            BodyLimits(max_bytes=8 << 30, read_timeout="10m", write_timeout="10m")
            Response(StatusCreated)

    with Method("get"):
        Description("Send blob `id` back, streamed, with its length.")
        with Payload():
            Attribute("id", String, pattern=r"^[a-z0-9-]{1,40}$")
            Required("id")
        with Result():
            Attribute("length", Int64)
            Attribute("sha256", String)
            Required("length")
        Error("not_found")
        with HTTP():
            GET("/blobs/{id}")
            SkipResponseBodyEncodeDecode()
            BodyLimits(write_timeout="10m")
            with Response(StatusOK):
                Header("length:Content-Length")
                Header("sha256:Digest-SHA256")
                ContentType("application/octet-stream")
            Response("not_found", StatusNotFound)

    with Method("sink"):
        Description("Read the request body and drop it: count and hash only.")
        Result(FileInfo)
        with HTTP():
            PUT("/sink")
            SkipRequestBodyEncodeDecode()
            BodyLimits(max_bytes=8 << 30)  # READ_TIMEOUT still holds

    with Method("zeros"):
        Description("Stream `size` zero bytes, chunked (no Content-Length).")
        with Payload():
            Attribute("size", Int64, minimum=0)
            Required("size")
        with HTTP():
            GET("/zeros/{size}")
            SkipResponseBodyEncodeDecode()
            BodyLimits(write_timeout="10m")

    with Method("note"):
        Description("A note, in the media type the client's Accept asks for.")
        with Payload():
            Attribute("id", String)
            Required("id")
        Result(Note)
        Error("not_found")
        with HTTP():
            GET("/notes/{id}")
            Response("not_found", StatusNotFound)

    with Method("write"):
        Description("Store a note sent as JSON, msgpack or CBOR.")
        Payload(Note)
        Result(Note)
        with HTTP():
            POST("/notes")
            Response(StatusCreated)

    with Method("text"):
        Description("A note's text alone, always as text/plain.")
        with Payload():
            Attribute("id", String)
            Required("id")
        Result(String)
        Error("not_found")
        with HTTP():
            GET("/notes/{id}/text")
            with Response(StatusOK):
                ContentType("text/plain; charset=utf-8")
            Response("not_found", StatusNotFound)

    with Method("stats"):
        Result(Stats)
        with HTTP():
            GET("/stats")
