"""Content negotiation: results, errors and request bodies in the App's codecs."""

from __future__ import annotations

import json
from typing import Any

import cbor2
import msgspec

import bastion
from bastion.dsl import *
from bastion.http import JSON, Codec, Codecs
from bastion.testing import TestClient


def design() -> APIExpr:
    with API("media") as api:
        pass
    with Type("Item") as item:
        Attribute("name", String, min_length=1)
        Attribute("qty", Int, minimum=0)
        Required("name")
    with Service("media"):
        Error("gone")
        with Method("make"):
            Payload(item)
            Result(item)
            with HTTP():
                POST("/items")
                Response("gone", StatusGone)
        with Method("say"):
            Payload(String)
            Result(String)
            with HTTP():
                POST("/say")
        with Method("fixed"):
            Result(item)
            with HTTP():
                GET("/fixed")
                with Response(StatusOK):
                    ContentType("application/vnd.acme+json")
    return api


class Media:
    def __init__(self) -> None:
        self.made: list[Any] = []

    async def make(self, p: Any) -> Any:
        if p.name == "gone":
            raise bastion.ServiceError("gone", "that one is gone")
        self.made.append(p)
        return p

    async def say(self, p: str) -> str:
        return p.upper()

    async def fixed(self) -> dict[str, Any]:
        return {"name": "x", "qty": 1}


def csv_codec() -> Codec:
    def encode(value: Any) -> bytes:
        data = msgspec.to_builtins(value)
        return (",".join(data) + "\n" + ",".join(str(v) for v in data.values())).encode()

    def decode(body: bytes) -> Any:
        head, row = body.decode().splitlines()
        cells = [int(c) if c.isdigit() else c for c in row.split(",")]
        return dict(zip(head.split(","), cells, strict=True))

    return Codec("text/csv", encode, decode)


async def test_a_406_is_answered_before_the_method_runs() -> None:
    media = Media()
    async with TestClient(bastion.App(design(), {"media": media})) as c:
        r = await c.post("/items", json={"name": "a"}, headers={"accept": "image/png"})
    assert r.status_code == 406 and r.headers["content-type"] == "application/json"
    assert "application/cbor" in r.json()["message"]
    assert media.made == []


async def test_strings_are_negotiated_as_text_too() -> None:
    async with TestClient(bastion.App(design(), {"media": Media()})) as c:
        text = await c.post("/say", content=b"hi", headers={"content-type": "text/plain",
                                                             "accept": "text/plain"})
        as_json = await c.post("/say", json="hi")
    assert (text.headers["content-type"], text.content) == ("text/plain", b"HI")
    assert as_json.json() == "HI"


async def test_errors_are_written_in_the_negotiated_type_validation_ones_included() -> None:
    async with TestClient(bastion.App(design(), {"media": Media()})) as c:
        gone = await c.post("/items", json={"name": "gone"}, headers={"accept": "application/cbor"})
        bad = await c.post("/items", json={"qty": -1}, headers={"accept": "application/cbor"})
        said = await c.post("/say", json=1, headers={"accept": "text/plain"})
    assert gone.status_code == 410 and gone.headers["goa-error"] == "gone"
    assert cbor2.loads(gone.content)["message"] == "that one is gone"
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/cbor"
    assert {e["field"] for e in cbor2.loads(bad.content)["errors"]} == {"name", "qty"}
    # Text carries no error object: JSON does.
    assert said.status_code == 400 and said.headers["content-type"] == "application/json"


async def test_a_response_content_type_ignores_accept() -> None:
    async with TestClient(bastion.App(design(), {"media": Media()})) as c:
        r = await c.get("/fixed", headers={"accept": "application/cbor"})
    assert r.headers["content-type"] == "application/vnd.acme+json"
    assert r.json() == {"name": "x", "qty": 1}
    assert "vary" not in r.headers  # one answer whatever Accept says


async def test_a_negotiated_answer_says_it_varies_with_accept() -> None:
    async with TestClient(bastion.App(design(), {"media": Media()})) as c:
        r = await c.post("/items", json={"name": "a"}, headers={"accept": "application/cbor"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/cbor"
    assert r.headers["vary"] == "accept"


async def test_a_codec_of_the_users_reads_and_writes_its_type() -> None:
    app = bastion.App(design(), {"media": Media()}, codecs=[csv_codec()])
    async with TestClient(app) as c:
        r = await c.post("/items", content=b"name,qty\nbolt,3",
                         headers={"content-type": "text/csv", "accept": "text/csv"})
        doc = await c.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert r.content == b"name,qty\nbolt,3"
    content = json.loads(doc.content)["paths"]["/items"]["post"]["requestBody"]["content"]
    assert "text/csv" in content


async def test_a_registry_of_json_alone_negotiates_nothing() -> None:
    app = bastion.App(design(), {"media": Media()}, codecs=Codecs([JSON]))
    async with TestClient(app) as c:
        r = await c.post("/items", json={"name": "a"}, headers={"accept": "application/cbor"})
        refused = await c.post("/items", content=cbor2.dumps({"name": "a"}),
                               headers={"content-type": "application/cbor"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert refused.status_code == 415
    assert "application/json" in refused.json()["message"]


async def test_a_binary_body_that_repeats_a_key_is_refused_before_the_method_runs() -> None:
    # {"name": "a", "qty": 1, "qty": 0}: the decoders keep the last `qty`, silently.
    mp = b"\x83\xa4name\xa1a\xa3qty\x01\xa3qty\x00"
    cb = b"\xa3\x64name\x61a\x63qty\x01\x63qty\x00"
    assert msgspec.msgpack.decode(mp) == cbor2.loads(cb) == {"name": "a", "qty": 0}
    media = Media()
    async with TestClient(bastion.App(design(), {"media": media})) as c:
        refused = [await c.post("/items", content=body, headers={"content-type": media_type})
                   for body, media_type in ((mp, "application/msgpack"),
                                            (cb, "application/cbor"))]
        once = await c.post("/items", content=msgspec.msgpack.encode({"name": "a", "qty": 0}),
                            headers={"content-type": "application/msgpack"})
    for r in refused:
        assert r.status_code == 400, r.text
        assert r.json()["message"] == "1 invalid field: qty"
        assert [(e["field"], e["in"], e["message"]) for e in r.json()["errors"]] == [
            ("qty", "body", "duplicate key: an object must not repeat a key")]
    assert once.status_code == 200, once.text
    assert [p.qty for p in media.made] == [0]


async def test_a_binary_body_repeating_a_key_names_it_beside_every_other_bad_field() -> None:
    # {"qty": -1, "qty": 2}: `name` missing and `qty` repeated (the kept value, 2, is valid).
    mp = b"\x82\xa3qty\xff\xa3qty\x02"
    cb = b"\xa2\x63qty\x20\x63qty\x02"
    async with TestClient(bastion.App(design(), {"media": Media()})) as c:
        answers = [await c.post("/items", content=body, headers={"content-type": media_type})
                   for body, media_type in ((mp, "application/msgpack"),
                                            (cb, "application/cbor"))]
    for r in answers:
        assert r.status_code == 400, r.text
        fields = {(e["field"], e["message"]) for e in r.json()["errors"]}
        assert fields == {("name", "missing required field"),
                          ("qty", "duplicate key: an object must not repeat a key")}, fields


async def test_a_binary_body_with_bytes_after_its_item_is_a_400() -> None:
    one = cbor2.dumps({"name": "a"})
    async with TestClient(bastion.App(design(), {"media": Media()})) as c:
        answers = [await c.post("/items", content=body, headers={"content-type": media_type})
                   for body, media_type in ((one + b"\xff", "application/cbor"),
                                            (one + one, "application/cbor"),
                                            (msgspec.msgpack.encode({"name": "a"}) + b"\x01",
                                             "application/msgpack"))]
    for r, media_type in zip(answers, ("cbor", "cbor", "msgpack"), strict=True):
        assert r.status_code == 400, r.text
        assert r.json()["message"] == f"request body is not valid application/{media_type}"


async def test_a_repeat_is_named_even_when_the_bodys_json_form_is_over_the_limit() -> None:
    # 180 kB of MessagePack whose JSON form (each control character as \u0001) is over the
    # 1 MiB body limit: the limit held on the body received, so the answer is the repeat.
    name = "\x01" * 180_000
    body = (b"\x83\xa4name" + msgspec.msgpack.encode(name) + b"\xa3qty\x01\xa3qty\x02")
    assert len(msgspec.json.encode(msgspec.msgpack.decode(body))) > 1 << 20 > len(body)
    async with TestClient(bastion.App(design(), {"media": Media()})) as c:
        r = await c.post("/items", content=body, headers={"content-type": "application/msgpack"})
    assert r.status_code == 400, r.text[:200]
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        ("qty", "duplicate key: an object must not repeat a key")]
