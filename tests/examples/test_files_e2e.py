"""The files example through a real server: files served, and no way out of the folder.

Requests that try to leave the folder are sent on raw sockets, as written: clients such
as httpx would normalise `..` away before it reaches the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.examples import ROOT, Example, example

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with example("files", tmp_path_factory.mktemp("files")) as running:
        yield running


def test_the_documents_and_the_folder_are_served(files: Example) -> None:
    with httpx.Client(base_url=files.api, timeout=10) as c:
        doc = c.get("/openapi.json")
        # The design's Files route, not the built-in document: the file on disk.
        assert doc.content == (ROOT / "examples/files/gen/http/openapi.json").read_bytes()
        assert c.get("/openapi.yaml").headers["content-type"] == "application/yaml"
        page = c.get("/static/index.html")
        assert page.status_code == 200 and page.headers["content-type"] == (
            "text/html; charset=utf-8")
        css = c.get("/static/css/site.css", headers={"Range": "bytes=0-3"})
        assert css.status_code == 206 and css.content == b"body"
    assert any(line.get("msg") == "built-in route left out: the design uses it"
               for line in files.lines())


@pytest.mark.parametrize("target", [
    b"/static/../design.py",
    b"/static/%2e%2e/design.py",
    b"/static/..%2fdesign.py",
    b"/static/css/..%2F..%2Fdesign.py",
    b"/static/%2e%2e%2f%2e%2e%2fcalc%2fdesign.py",
    b"/static//etc/passwd",
])
def test_nothing_outside_the_folder_is_served(files: Example, target: bytes) -> None:
    status, _, body = files.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                                      b"Connection: close\r\n\r\n")
    assert status in (400, 404), (target, status)
    assert b"from bastion.dsl" not in body and b"root:" not in body


def test_the_committed_documents_are_what_the_design_generates() -> None:
    from examples.files.design import api

    from bastion.openapi import spec, to_json, to_yaml

    gen = Path(ROOT / "examples/files/gen/http")
    assert (gen / "openapi.json").read_bytes() == to_json(spec(api))
    assert (gen / "openapi.yaml").read_text() == to_yaml(spec(api))
