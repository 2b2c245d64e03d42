"""A design served over gRPC and HTTP, for the gRPC transport's tests.

Every kind of rpc (unary, server, client and bidirectional streams), the four security
schemes (OAuth2 with opaque access tokens the service looks up), typed errors, metadata
attributes and the protobuf types (enums, maps, repeated, optional, timestamps, nested and
recursive messages). `python -m tests.support.grpc_shop` serves it (`bastion.run`), for
the tests that need a real process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import bastion
from bastion.dsl import *
from bastion.security import APIKeyStore, JWTVerifier

JWT_SECRET = "grpc-test-secret-0123456789abcdef-0123456789"
API_KEY = "grpc-test-key-0123456789"

JWTAuth = JWTSecurity("jwt", scopes={"shop:read": "Read", "shop:write": "Write"})
KeyAuth = APIKeySecurity("api_key", rate_limit="3/minute")
BasicAuth = BasicAuthSecurity("basic")
OAuthAuth = OAuth2Security(
    "oauth", flows=[ClientCredentialsFlow("https://auth.example.com/token")],
    scopes={"shop:stock": "Count the stock", "shop:read": "Read"})
#: The OAuth2 access tokens `Shop.oauth2_auth` knows, and the scopes each grants.
OAUTH_TOKENS = {"oauth-stock-token-0123": frozenset({"shop:stock", "shop:read"}),
                "oauth-read-token-0123": frozenset({"shop:read"})}

with API("shop") as api:
    Title("Shop")
    Error("overloaded", temporary=True, description="Try again later")
    with GRPC():
        Response("overloaded", CodeResourceExhausted)

with Type("Item") as Item:
    Description("Something the shop sells.")
    Field(1, "sku", String, min_length=2, max_length=20)
    Field(2, "qty", Int32, minimum=1)
    Field(3, "tags", ArrayOf(String, min_length=1))
    Field(4, "prices", MapOf(String, Float64))
    Field(5, "kind", String, enum=["plain", "fancy-one"])
    Field(6, "made_at", String, format=DateTime)
    Field(7, "parts", ArrayOf("Item"))
    Field(8, "note", String)
    Field(9, "data", Bytes)
    Required("sku", "qty")

with Service("shop"):
    Error("not_found", description="No such item")
    Error("gone", temporary=True)
    Error("broken", fault=True)
    with GRPC():
        Package("shoptest")
        Response("not_found", CodeNotFound)
    Security(JWTAuth, scopes=["shop:read"])

    with Method("get"):
        with Payload():
            Token("token", String)
            Field(1, "sku", String, min_length=2, pattern="^[a-z0-9-]+$")
            Field(2, "qty", Int32, minimum=1, maximum=10, default=1)
            Attribute("request_tag", String, max_length=8)
            Required("sku")
        Result(Item)
        with HTTP():
            GET("/items/{sku}")
            Param("qty")
            Header("request_tag:X-Request-Tag")
            Response("not_found", StatusNotFound)
        with GRPC():
            Metadata("request_tag:x-request-tag")

    with Method("add"):
        Security(JWTAuth, scopes=["shop:write"])
        with Payload():
            Token("token", String)
            Field(1, "item", Item)
            Required("item")
        Result(Item)
        with GRPC():
            Response(CodeOK)

    with Method("by_key"):
        Security(KeyAuth)
        with Payload():
            APIKey("api_key", "key", String)
            Field(1, "sku", String)
            Required("sku")
        Result(Item)
        with HTTP():
            GET("/keyed/{sku}")
        with GRPC():
            pass

    with Method("login"):
        Security(BasicAuth)
        with Payload():
            Username("user", String)
            Password("password", String)
        with Result():
            Field(1, "user", String)
            Required("user")
        with HTTP():
            POST("/login")
        with GRPC():
            pass

    with Method("stock"):
        Security(OAuthAuth, scopes=["shop:stock"])
        with Payload():
            AccessToken("token", String)
            Field(1, "sku", String)
            Required("sku")
        with Result():
            Field(1, "client", String)  # the principal the token was issued to
            Field(2, "count", Int)
            Required("client", "count")
        with GRPC():
            pass

    with Method("slow"):
        NoSecurity()
        with Payload():
            Field(1, "seconds", Float64, minimum=0)
        with Result():
            Field(1, "deadline_in", Float64)  # seconds left when the method started
            Required("deadline_in")
        with GRPC():
            pass

    with Method("watch"):
        NoSecurity()
        with Payload():
            Field(1, "count", Int32, minimum=0)  # 0: until cancelled
        StreamingResult(Item)
        with GRPC():
            pass
        with HTTP():  # the same stream over WebSocket (tests/http/test_streams.py)
            GET("/watch")
            Param("count")

    with Method("mine"):  # secured by the service's JWT requirement, checked once
        with Payload():
            Token("token", String)
        StreamingResult(Item)
        with GRPC():
            pass
        with HTTP():
            GET("/mine")

    with Method("upload"):
        NoSecurity()
        StreamingPayload(Item)
        with Result():
            Field(1, "total", Int)
            Field(2, "count", Int)
            Required("total", "count")
        with GRPC():
            pass
        with HTTP():
            GET("/upload")

    with Method("chat"):
        NoSecurity()
        with Payload():
            Field(1, "factor", Int32, default=2)  # sent as metadata, before the stream
        StreamingPayload(Item)
        StreamingResult(Item)
        with GRPC():
            pass
        with HTTP():
            GET("/chat")
            Param("factor")

    with Method("fail"):
        NoSecurity()
        with Payload():
            Field(1, "how", String, enum=["not_found", "gone", "broken", "overloaded",
                                          "undeclared", "bug"])
            Required("how")
        with GRPC():
            pass


class Shop:
    """The `shop` service; records what its methods saw, for the tests to read."""

    def __init__(self) -> None:
        self.jwt_auth = JWTVerifier(key=JWT_SECRET, algorithms=["HS256"])
        keys = APIKeyStore()
        keys.add("tests", API_KEY)
        self.api_key_auth = keys
        self.seen: dict[str, Any] = {}

    async def basic_auth(self, username: str, password: str, scheme: Any) -> bastion.Principal:
        if (username, password) != ("ada", "lovelace"):
            raise bastion.Unauthorized("bad username or password")
        return bastion.Principal(subject=username)

    async def oauth2_auth(self, token: str, scheme: Any) -> bastion.Principal:
        scopes = OAUTH_TOKENS.get(token)
        if scopes is None:
            raise bastion.Unauthorized("unknown access token")
        return bastion.Principal(subject="stock-client", scopes=scopes)

    async def get(self, p: Any) -> dict[str, Any]:
        self.seen["get"] = p
        if p.sku == "missing":
            raise bastion.make_error("not_found", f"no item {p.sku}")
        return {"sku": p.sku, "qty": p.qty, "kind": "fancy-one", "tags": ["a", "b"],
                "prices": {"eur": 1.5}, "made_at": "2024-05-06T07:08:09Z",
                "parts": [{"sku": "p1", "qty": 1}], "note": p.request_tag}

    async def add(self, p: Any) -> Any:
        self.seen["add"] = p
        return p.item

    async def by_key(self, p: Any) -> dict[str, Any]:
        return {"sku": p.sku, "qty": 1}

    async def login(self, p: Any) -> dict[str, Any]:
        return {"user": bastion.principal().subject}

    async def stock(self, p: Any) -> dict[str, Any]:
        return {"client": bastion.principal().subject, "count": len(p.sku)}

    async def slow(self, p: Any) -> dict[str, Any]:
        deadline = bastion.deadline()
        left = deadline - time.monotonic() if deadline is not None else -1.0
        self.seen["slow_started"] = True
        try:
            await asyncio.sleep(p.seconds or 0)
        except asyncio.CancelledError:
            self.seen["slow_cancelled"] = bastion.cancelled()
            raise
        return {"deadline_in": left}

    async def watch(self, p: Any) -> Any:
        n = 0
        while p.count == 0 or n < p.count:
            n += 1
            yield {"sku": f"w{n}", "qty": n}
            if p.count == 0:
                await asyncio.sleep(0.05)

    async def mine(self, p: Any) -> Any:
        for n in (1, 2):
            yield {"sku": bastion.principal().subject, "qty": n}

    async def upload(self, stream: Any) -> dict[str, Any]:
        total = count = 0
        async for item in stream:
            total += item.qty
            count += 1
        return {"total": total, "count": count}

    async def chat(self, p: Any, stream: Any) -> Any:
        async for item in stream:
            yield {"sku": item.sku, "qty": item.qty * p.factor}

    async def fail(self, p: Any) -> None:
        if p.how == "bug":
            raise RuntimeError("a bug with a secret=hunter2 inside")
        raise bastion.make_error(p.how, f"failed: {p.how}")


def token(*scopes: str, subject: str = "tester") -> str:
    """A real HS256 JWT the service accepts, with `scopes`."""
    import jwt

    now = int(time.time())
    return str(jwt.encode({"sub": subject, "iat": now, "exp": now + 600,
                           "scope": " ".join(scopes)}, JWT_SECRET, algorithm="HS256"))


def build(**options: Any) -> bastion.App:
    """The App serving the design with a fresh `Shop`."""
    return bastion.App(api, {"shop": Shop()}, **options)


if __name__ == "__main__":
    from bastion.config import Config, load

    bastion.run(build(config=load(Config)))
