"""Multipart requests: parts into the payload, validated; files as uploads; the limits."""

from __future__ import annotations

from typing import Any

import pytest

import bastion
from bastion.dsl import *
from bastion.testing import LogCapture, TestClient
from tests.support.asgi import Wire, call

BOUNDARY = "XyZ"
CTYPE = ("content-type", f"multipart/form-data; boundary={BOUNDARY}")


def form(*parts: tuple[str, str | None, bytes] | tuple[str, str | None, bytes, str]) -> bytes:
    out = b""
    for name, filename, data, *ctype in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype[0]}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def design(limits: dict[str, Any] | None = None, body: bool = False) -> APIExpr:
    with API("forms") as api:
        pass
    with Type("Meta") as meta_type:
        Attribute("lang", String, enum=["en", "fr"])
    with Type("Form") as form_type:
        Attribute("title", String, max_length=10)
        Attribute("count", Int, minimum=1)
        Attribute("tags", ArrayOf(String))
        Attribute("meta", meta_type)
        Attribute("file", File)
        Attribute("extra", ArrayOf(File))
        Attribute("blob", Bytes)
        Required("title", "file")
    with Service("forms"):
        with Method("send"):
            if body:
                with Payload():
                    Attribute("folder", String)
                    Attribute("form", form_type)
                    Required("folder", "form")
            else:
                Payload(form_type)
            Result(Any)
            with HTTP():
                POST("/forms/{folder}" if body else "/forms")
                if body:
                    Body("form")
                MultipartRequest()
                if limits:
                    BodyLimits(**limits)
    return api


class Forms:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def send(self, p: Any) -> dict[str, Any]:
        self.seen.append(p)
        form = getattr(p, "form", p)
        data = await form.file.read()
        extra = [await u.read() for u in form.extra or []]
        return {"title": form.title, "count": form.count, "tags": form.tags,
                "lang": form.meta.lang if form.meta else None, "file": data.decode("latin-1"),
                "filename": form.file.filename, "type": form.file.content_type,
                "size": form.file.size, "extra": [e.decode() for e in extra],
                "blob": form.blob.decode() if form.blob else None,
                "folder": getattr(p, "folder", None)}


async def post(app: bastion.App, body: bytes, path: str = "/forms",
               headers: list[tuple[str, str]] | None = None) -> Any:
    async with TestClient(app) as c:
        return await c.post(path, content=body, headers=dict(headers or [CTYPE]))


async def test_parts_become_the_payload_and_files_uploads() -> None:
    forms = Forms()
    app = bastion.App(design(), {"forms": forms})
    body = form(("title", None, b"Hello"), ("count", None, b"3"), ("tags", None, b"a"),
                ("tags", None, b"b"), ("meta", None, b'{"lang": "fr"}', "application/json"),
                ("file", "notes.txt", b"the file", "text/plain"),
                ("extra", "1.bin", b"one"), ("extra", "2.bin", b"two"),
                ("blob", None, b"raw"), ("ignored", "x.bin", b"never read"))
    r = await post(app, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"title": "Hello", "count": 3, "tags": ["a", "b"], "lang": "fr",
                        "file": "the file", "filename": "notes.txt", "type": "text/plain",
                        "size": 8, "extra": ["one", "two"], "blob": "raw", "folder": None}


async def test_every_bad_part_is_named_in_one_400() -> None:
    app = bastion.App(design(), {"forms": Forms()})
    body = form(("title", None, b"far too long a title"), ("count", None, b"zero"),
                ("meta", None, b'{"lang": "de"}', "application/json"),
                ("count", None, b"2"), ("blob", None, b"\xff"))
    r = await post(app, body)
    assert r.status_code == 400
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"title", "count", "meta.lang", "file"}


async def test_a_body_attribute_holds_the_parts_and_the_path_the_rest() -> None:
    app = bastion.App(design(body=True), {"forms": Forms()})
    r = await post(app, form(("title", None, b"T"), ("file", "f", b"x")), "/forms/inbox")
    assert r.status_code == 200, r.text
    assert r.json()["folder"] == "inbox" and r.json()["file"] == "x"


async def test_uploads_past_a_mebibyte_spool_to_disk_and_are_closed_after_the_request() -> None:
    forms = Forms()
    app = bastion.App(design({"max_bytes": 8 << 20}), {"forms": forms})
    data = bytes(range(256)) * (3 << 12)  # 3 MiB
    r = await post(app, form(("title", None, b"big"), ("file", "big.bin", data)))
    assert r.status_code == 200 and r.json()["size"] == len(data)
    upload = forms.seen[0].file
    with pytest.raises(ValueError, match="closed"):
        await upload.read()


async def test_a_part_split_across_any_chunks_is_read_whole() -> None:
    app = bastion.App(design(), {"forms": Forms()})
    body = form(("title", None, b"Split"), ("file", "f.txt", b"0123456789" * 50))
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]
    async with TestClient(app):
        reply = await call(app, "POST", "/forms", wire=Wire(chunks), headers=[CTYPE])
    assert reply.status == 200, reply.body
    assert reply.json()["file"] == "0123456789" * 50


@pytest.mark.parametrize(("limits", "body", "status", "says"), [
    ({"max_parts": 2}, form(("title", None, b"a"), ("file", "f", b"x"), ("tags", None, b"t")),
     413, "more than 2 parts"),
    ({"max_field_bytes": 4}, form(("title", None, b"abcdef"), ("file", "f", b"x")),
     413, "part 0 ('title') is over the 4 byte limit"),
    ({"max_bytes": 200}, form(("title", None, b"a"), ("file", "f", b"x" * 500)),
     413, "over the 200 byte limit"),
])
async def test_limits_answer_413_naming_what_passed_them(
        limits: dict[str, Any], body: bytes, status: int, says: str) -> None:
    app = bastion.App(design(limits), {"forms": Forms()})
    r = await post(app, body)
    assert r.status_code == status and says in r.json()["message"]


async def test_broken_forms_are_400_naming_the_part() -> None:
    app = bastion.App(design(), {"forms": Forms()})
    whole = form(("title", None, b"a"), ("file", "f", b"x" * 100))
    truncated = await post(app, whole[:-30])
    assert truncated.status_code == 400
    assert "part 1 ('file') ends before its closing boundary" in truncated.json()["message"]
    no_boundary = await post(app, whole, headers=[("content-type", "multipart/form-data")])
    assert no_boundary.status_code == 400 and "boundary" in no_boundary.json()["message"]
    other = await post(app, whole, headers=[("content-type", "multipart/form-data; boundary=Q")])
    assert other.status_code == 400 and "malformed" in other.json()["message"]
    wrong_type = await post(app, b"{}", headers=[("content-type", "application/json")])
    assert wrong_type.status_code == 415
    assert "multipart/form-data" in wrong_type.json()["message"]


async def test_a_services_multipart_decoder_reads_the_parts_raw() -> None:
    class Raw(Forms):
        async def decode_send_multipart(self, reader: bastion.http.MultipartReader
                                        ) -> dict[str, Any]:
            values: dict[str, Any] = {}
            async for part in reader:
                if part.name == "upper":
                    values["title"] = (await part.read()).decode().upper()
                    values["file"] = part.name  # any value: the design says File
            return values

        async def send(self, p: Any) -> dict[str, Any]:
            return {"title": p.title, "file": p.file}

    app = bastion.App(design(), {"forms": Raw()})
    r = await post(app, form(("upper", None, b"shout"), ("rest", None, b"skipped")))
    assert r.status_code == 200, r.text
    assert r.json() == {"title": "SHOUT", "file": "upper"}


async def test_payload_logs_show_an_uploads_metadata_never_its_bytes() -> None:
    logs = LogCapture()
    logs.logger.debug_enabled = True
    app = bastion.App(design(), {"forms": Forms()}, logger=logs.logger)
    r = await post(app, form(("title", None, b"T"), ("file", "s.txt", b"secret bytes")))
    assert r.status_code == 200
    payload = next(line for line in logs.lines if line["msg"] == "payload")["payload"]
    assert payload["file"] == {"name": "file", "filename": "s.txt",
                               "content_type": "application/octet-stream", "size": 12}
    assert "secret bytes" not in str(payload)  # (the result line has it: the method echoes it)


def test_a_payload_that_is_not_an_object_needs_the_services_decoder() -> None:
    def listed() -> APIExpr:
        with API("list") as api, Service("forms"), Method("send"):
            Payload(ArrayOf(Int, minimum=1))
            with HTTP():
                POST("/forms")
                MultipartRequest()
        return api

    with pytest.raises(bastion.ImplementationError, match="decode_send_multipart"):
        bastion.App(listed(), {"forms": Forms()})


async def test_a_list_payload_the_service_decodes_is_validated_as_a_body() -> None:
    class Numbers:
        async def decode_send_multipart(self, reader: Any) -> list[Any]:
            return [int(await part.read()) async for part in reader]

        async def send(self, p: list[int]) -> None:
            return None

    with API("list") as api, Service("forms"), Method("send"):
        Payload(ArrayOf(Int, minimum=1))
        with HTTP():
            POST("/forms")
            MultipartRequest()
    app = bastion.App(api, {"forms": Numbers()})
    ok = await post(app, form(("n", None, b"1"), ("n", None, b"2")))
    bad = await post(app, form(("n", None, b"1"), ("n", None, b"0")))
    assert ok.status_code == 204
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "body[1]"
