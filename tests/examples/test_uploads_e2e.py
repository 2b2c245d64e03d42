"""The uploads example through a real server: multipart forms, raw streams, content types.

The limits are checked on raw sockets, as a client that misbehaves sends them: a form
cut short, a body that trickles past READ_TIMEOUT, a client that walks away in the
middle of a download or an upload. What the service did is read back from `/stats`.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import cbor2
import httpx
import msgspec
import pytest

from tests.support.examples import Example, example
from tests.support.rawhttp import read_response, request_bytes
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

BOUNDARY = "b0undary"


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    folder = tmp_path_factory.mktemp("uploads")
    env = {"BLOB_DIR": str(folder / "blobs"), "READ_TIMEOUT": "1s"}
    with example("uploads", folder, env) as running:
        yield running


def stats(uploads: Example) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{uploads.api}/stats", timeout=10).json()
    return data


def form(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename else "")
        out += (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n").encode()
        out += data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def test_a_multipart_form_is_validated_and_its_file_streamed_to_the_method(
        uploads: Example) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: spooled to a temporary file
    with httpx.Client(base_url=uploads.api, timeout=30) as c:
        ok = c.post("/files", data={"title": "Report", "tags": ["q1", "final"]},
                    files={"file": ("report.bin", data, "application/x-report")})
        assert ok.status_code == 201, ok.text
        info = ok.json()
        assert info["size"] == len(data)
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert (info["filename"], info["content_type"]) == ("report.bin", "application/x-report")
        assert info["tags"] == ["q1", "final"]
        bad = c.post("/files", data={"title": "", "tags": [str(i) for i in range(6)]},
                     files={"other": ("x.txt", b"x", "text/plain")})
    assert bad.status_code == 400
    named = {(e["field"], e["in"]) for e in bad.json()["errors"]}
    assert named == {("title", "body"), ("tags", "body"), ("file", "body")}


def test_a_truncated_form_is_a_400_naming_its_part(uploads: Example) -> None:
    body = form(("title", None, b"Report"), ("file", "a.txt", b"abcdef" * 100))
    cut = body[: body.rindex(b"abcdef")]  # ends inside the file part
    request = request_bytes("POST", "/files", {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(cut))}, cut)
    with socket.create_connection(("127.0.0.1", uploads.port), timeout=10) as sock:
        sock.sendall(request)
        reply = read_response(sock)
    assert reply.status == 400
    message = msgspec.json.decode(reply.body)["message"]
    assert "part 1 ('file')" in message and "closing boundary" in message


def test_a_form_whose_boundary_is_not_its_content_types_is_a_400(uploads: Example) -> None:
    body = form(("title", None, b"Report"))
    request = request_bytes("POST", "/files", {
        "Content-Type": "multipart/form-data; boundary=other"}, body)
    with socket.create_connection(("127.0.0.1", uploads.port), timeout=10) as sock:
        sock.sendall(request)
        reply = read_response(sock)
    assert reply.status == 400
    assert "malformed" in msgspec.json.decode(reply.body)["message"]


def test_too_many_parts_and_a_field_too_large_are_413(uploads: Example) -> None:
    with httpx.Client(base_url=uploads.api, timeout=10) as c:
        many = form(*[("tags", None, b"t")] * 17, ("title", None, b"x"), ("file", "f", b"x"))
        r = c.post("/files", content=many,
                   headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
        assert r.status_code == 413 and "16 parts" in r.json()["message"]
        big = form(("title", None, b"x" * 5000), ("file", "f", b"x"))
        r = c.post("/files", content=big,
                   headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
        assert r.status_code == 413 and "part 0 ('title')" in r.json()["message"]


def test_a_raw_upload_streams_in_and_a_raw_download_streams_out(uploads: Example) -> None:
    data = b"0123456789abcdef" * 65536 * 3  # 3 MiB

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 100_000):
            yield data[i:i + 100_000]

    with httpx.Client(base_url=uploads.api, timeout=30) as c:
        put = c.put("/blobs/three", content=chunks())  # chunked: no Content-Length
        assert put.status_code == 201, put.text
        assert put.json()["size"] == len(data)
        with c.stream("GET", "/blobs/three") as got:
            assert got.status_code == 200
            assert got.headers["content-length"] == str(len(data))
            assert got.headers["content-type"] == "application/octet-stream"
            assert got.headers["digest-sha256"] == hashlib.sha256(data).hexdigest()
            assert b"".join(got.iter_bytes()) == data
        zeros = c.get("/zeros/300000")
        assert zeros.headers.get("transfer-encoding") == "chunked"
        assert zeros.content == bytes(300000)
        assert c.get("/blobs/missing").status_code == 404


def test_a_raw_upload_that_trickles_past_read_timeout_is_a_408(uploads: Example) -> None:
    head = request_bytes("PUT", "/sink", {"Content-Length": "100"})
    with socket.create_connection(("127.0.0.1", uploads.port), timeout=10) as sock:
        sock.sendall(head + b"x" * 10)  # READ_TIMEOUT is 1s; the rest never comes
        reply = read_response(sock, timeout=10)
    assert reply.status == 408
    assert msgspec.json.decode(reply.body)["name"] == "request_timeout"


def test_a_routes_body_limits_give_its_upload_longer_than_read_timeout(
        uploads: Example) -> None:
    head = request_bytes("PUT", "/blobs/slow", {"Content-Length": "20"})
    with socket.create_connection(("127.0.0.1", uploads.port), timeout=10) as sock:
        sock.sendall(head + b"x" * 10)
        time.sleep(1.5)  # past the server's READ_TIMEOUT, within BodyLimits(read_timeout)
        sock.sendall(b"y" * 10)
        reply = read_response(sock, timeout=10)
    assert reply.status == 201, reply.body
    assert msgspec.json.decode(reply.body)["size"] == 20


def test_a_client_that_leaves_mid_download_cancels_the_method(uploads: Example) -> None:
    before = stats(uploads)
    with socket.create_connection(("127.0.0.1", uploads.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(request_bytes("GET", f"/zeros/{1 << 30}"))
        sock.recv(65536)  # the download has begun
    wait_until(lambda: stats(uploads)["downloads_cancelled"] == before["downloads_cancelled"] + 1)
    assert stats(uploads)["downloads_completed"] == before["downloads_completed"]


def test_a_client_that_leaves_mid_upload_leaves_no_blob(uploads: Example) -> None:
    before = stats(uploads)
    with socket.create_connection(("127.0.0.1", uploads.port), timeout=10) as sock:
        sock.sendall(request_bytes("PUT", "/blobs/cut", {"Content-Length": str(1 << 20)})
                     + b"x" * 1000)
        wait_until(lambda: stats(uploads)["bytes_received"] >= before["bytes_received"] + 1000)
    wait_until(lambda: stats(uploads)["uploads_cancelled"] == before["uploads_cancelled"] + 1)
    assert httpx.get(f"{uploads.api}/blobs/cut", timeout=10).status_code == 404


def test_results_and_errors_are_written_in_the_media_type_accept_asks(uploads: Example) -> None:
    with httpx.Client(base_url=uploads.api, timeout=10) as c:
        as_json = c.get("/notes/hello").json()
        packed = c.get("/notes/hello", headers={"accept": "application/msgpack"})
        assert packed.headers["content-type"] == "application/msgpack"
        assert msgspec.msgpack.decode(packed.content) == as_json
        cbor = c.get("/notes/hello", headers={"accept": "application/cbor;q=0.9, */*;q=0.1"})
        assert cbor.headers["content-type"] == "application/cbor"
        assert cbor2.loads(cbor.content) == as_json
        missing = c.get("/notes/nope", headers={"accept": "application/cbor"})
        assert missing.status_code == 404
        assert cbor2.loads(missing.content)["name"] == "not_found"
        refused = c.get("/notes/hello", headers={"accept": "text/csv"})
        assert refused.status_code == 406
        assert refused.headers["content-type"] == "application/json"
        message = refused.json()["message"]
        assert all(t in message for t in ("application/json", "application/msgpack",
                                          "application/cbor"))
        text = c.get("/notes/hello/text", headers={"accept": "application/cbor"})
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.text == "Hello, world"


def test_request_bodies_are_read_in_json_msgpack_and_cbor(uploads: Example) -> None:
    with httpx.Client(base_url=uploads.api, timeout=10) as c:
        made = c.post("/notes", content=cbor2.dumps({"id": "c1", "text": "hi", "stars": 2}),
                      headers={"content-type": "application/cbor"})
        assert made.status_code == 201 and made.json()["id"] == "c1"
        bad = c.post("/notes", content=msgspec.msgpack.encode({"stars": 9}),
                     headers={"content-type": "application/msgpack",
                              "accept": "application/msgpack"})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/msgpack"
        fields = {e["field"] for e in msgspec.msgpack.decode(bad.content)["errors"]}
        assert fields == {"text", "stars"}
        unknown = c.post("/notes", content=b"a,b", headers={"content-type": "text/csv"})
        assert unknown.status_code == 415
        assert "application/cbor" in unknown.json()["message"]
