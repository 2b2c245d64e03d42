"""Property: any JSON the OpenAPI schema accepts, the decoder accepts, and it round-trips.

The request-body schemas come from the served OpenAPI document; hypothesis-jsonschema
generates values from them; each is sent through the App (a 400 would mean the decoder
is stricter than the published contract) and decoded, re-encoded and decoded again by the
compiled body type (nothing may be lost or changed).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bastion
from bastion.dsl import *
from bastion.schema.formats import dec_hook, enc_hook
from bastion.testing import TestClient
from tests.support.schema_strategy import from_schema


def _design() -> Any:
    with API("roundtrip") as api:
        pass
    with Type("Line") as line:
        Attribute("sku", String, pattern="^[A-Z]{3}-[0-9]{2}$")
        Attribute("qty", Int32, minimum=1, maximum=1000)
        Attribute("price", Float64, exclusive_minimum=0, maximum=1e6)
        Attribute("tags", ArrayOf(String, max_length=10), max_length=3)
        Required("sku", "qty")
    with Type("Order") as order:
        Attribute("id", String, format=UUID)
        Attribute("email", String, format=Email)
        Attribute("placed", String, format=DateTime)
        Attribute("day", String, format=Date)
        Attribute("kind", String, enum=["retail", "wholesale"])
        Attribute("lines", ArrayOf(line), min_length=1, max_length=4)
        Attribute("notes", MapOf(String, String, max_length=20), max_length=3)
        Attribute("rush", Boolean, default=False)
        Attribute("count", UInt32)
        Attribute("ip", String, format=IPv4)
        Attribute("parent", "Order")
        Required("id", "kind", "lines")
    with Service("orders"), Method("create"):
        with Payload():
            Attribute("order", order)
            Required("order")
        Result(order)
        with HTTP():
            POST("/orders")
            Body("order")
    return api


class Orders:
    async def create(self, p: Any) -> Any:
        return p.order


API_ = _design()
APP = bastion.App(API_, {"orders": Orders()}, observe=False)


def _inline(node: Any, components: dict[str, Any], path: tuple[str, ...] = ()) -> Any:
    """Inline `$ref`s; a type recurring a third time on one path becomes `false` (absent)."""
    if isinstance(node, list):
        return [_inline(x, components, path) for x in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[1]
        if path.count(name) >= 2:
            return False  # a stricter schema: the property holds for it all the same
        return _inline(components[name], components, (*path, name))
    return {k: _inline(v, components, path) for k, v in node.items()}


def _body_schema() -> Any:
    doc = APP.openapi
    op = doc["paths"]["/orders"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    # The strategy takes no refs: unroll them, recursion three levels deep.
    return _inline(schema, doc["components"]["schemas"])


SCHEMA = _body_schema()
BODY_TYPE = APP._codecs[("orders", "create")][0]._body_decoder  # the compiled body decoder


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(from_schema(SCHEMA))
async def test_every_body_the_schema_accepts_is_accepted_and_round_trips(body: Any) -> None:
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    raw = json.dumps(body).encode()
    decoded = BODY_TYPE.decode(raw)
    encoded = msgspec.json.encode(decoded, enc_hook=enc_hook)
    again = msgspec.json.decode(encoded, type=BODY_TYPE.type, dec_hook=dec_hook)
    assert again == decoded
    async with TestClient(APP) as client:
        r = await client.post("/orders", content=raw,
                              headers={"content-type": "application/json"})
    assert r.status_code == 200, (body, r.text)
    assert msgspec.json.decode(r.content, type=BODY_TYPE.type, dec_hook=dec_hook) == decoded


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
async def test_random_bytes_never_cause_a_500(body: bytes) -> None:
    async with TestClient(APP) as client:
        r = await client.post("/orders", content=body,
                              headers={"content-type": "application/json"})
    assert r.status_code in (200, 400), r.text


def test_the_schema_is_not_trivially_permissive() -> None:
    # A guard on the property above: the published schema does reject bad bodies.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "kind": "retail", "lines": []}, SCHEMA)
