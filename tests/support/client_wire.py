"""A design that uses every place a request can carry a value, and a service echoing them.

Served by `bastion serve tests.support.client_wire:app` so a client generated from it is
checked against the server's own decoding: a path parameter holding a `/`, a `{*rest}`
wildcard, repeated query parameters, an API key in the query string, a header list, a
cookie, a body made of the rest of the payload, a result attribute sent as a header, a
body that is one attribute, a method without a result, and a temporary design error.
"""

from __future__ import annotations

from typing import Any

import bastion
from bastion.dsl import *
from bastion.errors import Unauthorized

DEMO_KEY = "wire-key-123"

with API("wire") as api:
    Title("Wire API")
    Version("0.1.0")
    query_key = APIKeySecurity("query_key", description="An API key in the query string")

with Type("Item") as Item:
    Description("A stored item.")
    Attribute("name", String, min_length=1)
    Attribute("size", Int32, minimum=0)
    Attribute("created-at", String, format=DateTime)
    Required("name", "size")

with Service("wire"):
    Description("Echoes what the request carried.")
    Error("busy", description="Try again", temporary=True)
    with Method("echo"):
        Description("Echo every value, read from where the design maps it.")
        Security(query_key)
        with Payload():
            APIKey("query_key", "key", String)
            Attribute("id", String, "Any text, slashes included")
            Attribute("rest", String)
            Attribute("tags", ArrayOf(String))
            Attribute("flag", Boolean)
            Attribute("count", Int32, minimum=0)
            Attribute("langs", ArrayOf(String))
            Attribute("session", String)
            Attribute("note", String, max_length=20)
            Attribute("amount", Float64)
            Attribute("level", String, enum=["low", "high"], default="low")
            Required("id", "rest", "amount")
        with Result():
            Attribute("id", String)
            Attribute("rest", String)
            Attribute("tags", ArrayOf(String))
            Attribute("flag", Boolean)
            Attribute("count", Int32)
            Attribute("langs", ArrayOf(String))
            Attribute("session", String)
            Attribute("note", String)
            Attribute("amount", Float64)
            Attribute("level", String)
            Attribute("total", Int, "Sent as the X-Total header")
            Required("id", "rest", "amount", "total")
        with HTTP():
            POST("/echo/{id}/files/{*rest}")
            Param("key:k")
            Param("tags")
            Param("flag")
            Header("count:X-Count")
            Header("langs:X-Langs")
            Cookie("session:sid")
            with Response(StatusOK):
                Header("total:X-Total")

    with Method("put"):
        Description("Store an item; the body is the item, the answer is the item too.")
        NoSecurity()
        with Payload():
            Attribute("id", Int, minimum=1)
            Attribute("item", Item)
            Required("id", "item")
        with Result():
            Attribute("item", Item)
            Attribute("version", Int)
            Required("item", "version")
        with HTTP():
            PUT("/items/{id}")
            Body("item")
            with Response(StatusOK):
                Header("version:X-Version")
                Body("item")

    with Method("forget"):
        Description("Drop an item; answers 204 without a body.")
        NoSecurity()
        with Payload():
            Attribute("id", Int, minimum=1)
            Required("id")
        with HTTP():
            DELETE("/items/{id}")
            Response(StatusNoContent)
            Response("busy", StatusServiceUnavailable)


class Wire:
    """Echoes payloads; `forget` of item 13 is always busy."""

    async def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> bastion.Principal:
        if key != DEMO_KEY:
            raise Unauthorized("unknown key")
        return bastion.Principal(subject="wire")

    async def echo(self, p: Any) -> dict[str, Any]:
        out = {name: getattr(p, name) for name in (
            "id", "rest", "tags", "flag", "count", "langs", "session", "note", "amount",
            "level")}
        return {**{k: v for k, v in out.items() if v is not None}, "total": 42}

    async def put(self, p: Any) -> dict[str, Any]:
        return {"item": p.item, "version": p.id * 10}

    async def forget(self, p: Any) -> None:
        if p.id == 13:
            raise bastion.make_error("busy", "item 13 is always busy")


def __getattr__(name: str) -> bastion.App:
    # Built on access: importing the design (to generate a client) starts nothing.
    if name == "app":
        return bastion.App(api, services={"wire": Wire()})
    raise AttributeError(name)
