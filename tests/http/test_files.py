"""`Files`: static files with conditional requests and ranges, and never a file outside."""

from __future__ import annotations

import email.utils
import os
import typing
from pathlib import Path
from urllib.parse import unquote

import pytest

from bastion.dsl import *
from tests.support.apps import quiet_app
from tests.support.asgi import Reply, Wire


def files_app(public: Path, document: Path) -> typing.Any:
    with API("files") as api:
        pass
    with Service("assets"):
        Files("/static/{*path}", str(public))
        Files("/openapi.json", str(document))  # the design's route wins over the built-in
    return quiet_app(api, {"assets": object()})


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    public = tmp_path / "public"
    (public / "css").mkdir(parents=True)
    (public / "index.html").write_text("<h1>home</h1>")
    (public / "css" / "site.css").write_text("body { color: red }")
    (public / "data.bin").write_bytes(bytes(range(10)))
    (public / "notes.yaml").write_text("a: 1\n")
    (public / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("top secret")
    (public / "escape").symlink_to(tmp_path / "secret.txt")
    (public / "inside").symlink_to(public / "data.bin")
    document = tmp_path / "gen" / "openapi.json"
    document.parent.mkdir()
    document.write_text('{"openapi": "3.1.0"}')
    return public, document


async def get(app: typing.Any, raw: str, *headers: tuple[str, str],
              method: str = "GET") -> Reply:
    """One request as a server hands it to the app: `path` decoded, `raw_path` as sent."""
    target, _, query = raw.partition("?")
    reply = Reply()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": unquote(target), "raw_path": target.encode(),
        "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("testserver", 80), "state": {},
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }

    async def send(message: typing.Any) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            reply.body += message.get("body", b"")

    await app(scope, Wire().receive, send)
    return reply


async def test_files_are_served_with_their_type_validators_and_length(
    tree: tuple[Path, Path],
) -> None:
    app = files_app(*tree)
    css = await get(app, "/static/css/site.css")
    assert css.status == 200 and css.body == b"body { color: red }"
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["content-length"] == str(len(css.body))
    assert css.headers["accept-ranges"] == "bytes"
    assert css.headers["etag"].startswith('"') and css.headers["last-modified"].endswith("GMT")
    assert (await get(app, "/static/data.bin")).headers["content-type"] == (
        "application/octet-stream")
    assert (await get(app, "/static/notes.yaml")).headers["content-type"] == "application/yaml"
    assert (await get(app, "/static/css/")).status == 404  # a folder is never listed
    assert (await get(app, "/static/empty")).status == 404
    home = await get(app, "/static/")
    assert home.status == 404  # the wildcard needs a segment
    assert (await get(app, "/static/index.html")).body == b"<h1>home</h1>"
    head = await get(app, "/static/css/site.css", method="HEAD")
    assert head.status == 200 and head.body == b"" and head.headers["content-length"] == "19"
    doc = await get(app, "/openapi.json")
    assert doc.body == b'{"openapi": "3.1.0"}' and doc.headers["content-type"] == (
        "application/json")


@pytest.mark.parametrize("raw", [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2Fsecret.txt",
    "/static/css/..%2F..%2Fsecret.txt",
    "/static/css/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/static/escape",
    "/static/data.bin%00.txt",
    "/static/%2Fetc%2Fpasswd",
    "/static/nope.txt",
])
async def test_nothing_outside_the_folder_is_ever_served(
    tree: tuple[Path, Path], raw: str,
) -> None:
    app = files_app(*tree)
    r = await get(app, raw)
    assert r.status == 404, raw
    assert b"top secret" not in r.body and b"root:" not in r.body
    assert r.headers["content-type"] == "application/json"


async def test_a_symlink_inside_the_folder_is_followed(tree: tuple[Path, Path]) -> None:
    r = await get(files_app(*tree), "/static/inside")
    assert r.status == 200 and r.body == bytes(range(10))


async def test_conditional_requests_answer_304(tree: tuple[Path, Path]) -> None:
    app = files_app(*tree)
    first = await get(app, "/static/data.bin")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    same = await get(app, "/static/data.bin", ("If-None-Match", f'"x", W/{etag}'))
    assert same.status == 304 and same.body == b"" and same.headers["etag"] == etag
    assert "content-length" not in same.headers
    other = await get(app, "/static/data.bin", ("If-None-Match", '"other"'))
    assert other.status == 200
    since = await get(app, "/static/data.bin", ("If-Modified-Since", modified))
    assert since.status == 304
    older = email.utils.formatdate(os.stat(tree[0] / "data.bin").st_mtime - 3600, usegmt=True)
    assert (await get(app, "/static/data.bin", ("If-Modified-Since", older))).status == 200
    # If-None-Match wins over If-Modified-Since, as RFC 9110 says.
    assert (await get(app, "/static/data.bin", ("If-None-Match", '"other"'),
                      ("If-Modified-Since", modified))).status == 200


async def test_single_byte_ranges(tree: tuple[Path, Path]) -> None:
    app = files_app(*tree)
    part = await get(app, "/static/data.bin", ("Range", "bytes=2-4"))
    assert part.status == 206 and part.body == bytes([2, 3, 4])
    assert part.headers["content-range"] == "bytes 2-4/10" and part.headers["content-length"] == "3"
    tail = await get(app, "/static/data.bin", ("Range", "bytes=-3"))
    assert tail.status == 206 and tail.body == bytes([7, 8, 9])
    rest = await get(app, "/static/data.bin", ("Range", "bytes=8-"))
    assert rest.body == bytes([8, 9]) and rest.headers["content-range"] == "bytes 8-9/10"
    past = await get(app, "/static/data.bin", ("Range", "bytes=10-20"))
    assert past.status == 416 and past.headers["content-range"] == "bytes */10"
    # Several ranges, another unit, or a stale If-Range: the whole file.
    for header in (("Range", "bytes=0-1,4-5"), ("Range", "items=0-1")):
        whole = await get(app, "/static/data.bin", header)
        assert whole.status == 200 and whole.body == bytes(range(10))
    stale = await get(app, "/static/data.bin", ("Range", "bytes=0-1"), ("If-Range", '"old"'))
    assert stale.status == 200
    etag = part.headers["etag"]
    fresh = await get(app, "/static/data.bin", ("Range", "bytes=0-1"), ("If-Range", etag))
    assert fresh.status == 206 and fresh.body == bytes([0, 1])


async def test_large_files_are_sent_in_chunks_whole(tmp_path: Path) -> None:
    public = tmp_path / "p"
    public.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 7)
    (public / "big.bin").write_bytes(data)
    doc = tmp_path / "d.json"
    doc.write_text("{}")
    r = await get(files_app(public, doc), "/static/big.bin")
    assert r.status == 200 and r.body == data
    assert r.headers["content-length"] == str(len(data))
