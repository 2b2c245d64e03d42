"""The served benchmark's apps: the same four routes in each framework, secured the same way.

- `GET /hello`: a constant JSON body;
- `POST /orders`: an `X-API-Key` checked against a store of SHA-256 digests, then a JSON
  body validated (amount >= 0, type in an enum, customer an email, note <= 500 chars);
- `POST /orders/jwt`: the same body behind an ES256 bearer JWT (signature, `exp`, `iss`);
- `GET /io`: awaits 1 ms, as a handler waiting on a database does.

Keys come from the environment (`BENCH_JWT_PUBLIC_KEY`, a PEM file; `BENCH_API_KEY`), so
the runner mints one token and every app checks the same one.
"""

# No `from __future__ import annotations`: FastAPI and Litestar read these hints at run time.

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from bench.scenario import EMAIL, order

ISSUER = "bench"


def _public_key() -> bytes:
    return Path(os.environ["BENCH_JWT_PUBLIC_KEY"]).read_bytes()


def _api_key() -> str:
    return os.environ["BENCH_API_KEY"]


# -- raw ASGI and msgspec: the limit ---------------------------------------------------------


def raw() -> Any:
    """The four routes by hand on ASGI and msgspec: what no framework can beat."""
    import jwt
    import msgspec

    class OrderInput(msgspec.Struct):
        amount: Annotated[float, msgspec.Meta(ge=0)]
        type: Literal["retail", "wholesale"]
        customer: Annotated[str, msgspec.Meta(pattern=EMAIL)]
        note: Annotated[str, msgspec.Meta(max_length=500)] | None = None

    decode = msgspec.json.Decoder(OrderInput).decode
    encode = msgspec.json.Encoder().encode
    digests = {hashlib.sha256(_api_key().encode()).digest()}
    key = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).prepare_key(_public_key())
    hello = encode({"message": "Hello, world!"})

    async def respond(send: Any, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def read(receive: Any) -> bytes:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                return body

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        headers = dict(scope["headers"])
        if path == "/hello":
            await respond(send, 200, hello)
        elif path == "/io":
            await asyncio.sleep(0.001)
            await respond(send, 200, hello)
        elif path == "/orders":
            given = headers.get(b"x-api-key", b"")
            if hashlib.sha256(given).digest() not in digests:
                await respond(send, 401, b'{"error":"unauthorized"}')
                return
            o = decode(await read(receive))
            await respond(send, 201, encode(order(o.amount, o.type, o.customer, o.note)))
        elif path == "/orders/jwt":
            token = headers.get(b"authorization", b"").removeprefix(b"Bearer ")
            try:
                jwt.decode(token, key, algorithms=["ES256"], issuer=ISSUER)
            except jwt.PyJWTError:
                await respond(send, 401, b'{"error":"unauthorized"}')
                return
            o = decode(await read(receive))
            await respond(send, 201, encode(order(o.amount, o.type, o.customer, o.note)))
        else:
            await respond(send, 404, b"{}")

    return app


# -- Bastion -----------------------------------------------------------------------------------


def bastion(*, full: bool) -> Any:
    """The four routes in Bastion: bare (`observe=False`) or with its default stack."""
    import bastion as b
    from bastion.dsl import (
        API,
        GET,
        HTTP,
        POST,
        UUID,
        APIKey,
        APIKeySecurity,
        Attribute,
        Body,
        DateTime,
        Email,
        Float64,
        JWTSecurity,
        Method,
        NoSecurity,
        Payload,
        Required,
        Response,
        Result,
        Security,
        Service,
        StatusCreated,
        String,
        Token,
        Type,
    )
    from bastion.security import APIKeyStore, JWTVerifier

    key_auth = APIKeySecurity("api_key")
    jwt_auth = JWTSecurity("jwt")
    with API("bench") as api:
        pass
    with Type("OrderInput") as OrderInput:  # noqa: N806 - named as the design names it
        Attribute("amount", Float64, minimum=0)
        Attribute("type", String, enum=["retail", "wholesale"])
        Attribute("customer", String, format=Email)
        Attribute("note", String, max_length=500)
        Required("amount", "type", "customer")
    with Type("Order") as Order:  # noqa: N806
        Attribute("id", String, format=UUID)
        Attribute("amount", Float64)
        Attribute("type", String)
        Attribute("customer", String)
        Attribute("note", String)
        Attribute("status", String)
        Attribute("created_at", String, format=DateTime)
        Required("id", "amount", "type", "customer", "status", "created_at")
    with Type("Greeting") as Greeting:  # noqa: N806
        Attribute("message", String)
        Required("message")
    with Service("bench"):
        with Method("hello"):
            NoSecurity()
            Result(Greeting)
            with HTTP():
                GET("/hello")
        with Method("io"):
            NoSecurity()
            Result(Greeting)
            with HTTP():
                GET("/io")
        with Method("create"):
            Security(key_auth)
            with Payload():
                APIKey("api_key", "key", String)
                Attribute("order", OrderInput)
                Required("key", "order")
            Result(Order)
            with HTTP():
                POST("/orders")
                Body("order")
                Response(StatusCreated)
        with Method("create_jwt"):
            Security(jwt_auth)
            with Payload():
                Token("token", String)
                Attribute("order", OrderInput)
                Required("token", "order")
            Result(Order)
            with HTTP():
                POST("/orders/jwt")
                Body("order")
                Response(StatusCreated)

    store = APIKeyStore()
    store.add("bench", _api_key())
    greeting = {"message": "Hello, world!"}

    class Bench:
        api_key_auth = store
        jwt_auth = JWTVerifier(key=_public_key(), algorithms=["ES256"], issuer=ISSUER)

        async def hello(self) -> Any:
            return greeting

        async def io(self) -> Any:
            await asyncio.sleep(0.001)
            return greeting

        async def create(self, p: Any) -> Any:
            o = p.order
            return order(o.amount, o.type, o.customer, o.note)

        async def create_jwt(self, p: Any) -> Any:
            o = p.order
            return order(o.amount, o.type, o.customer, o.note)

    from bastion.config import Config, load

    config = load(Config)
    if not full:
        return b.App(api, {"bench": Bench()}, docs=False,
                     observe=False, config=config)
    return b.App(api, {"bench": Bench()}, config=config)


# -- FastAPI -----------------------------------------------------------------------------------


def fastapi() -> Any:
    """The four routes in FastAPI, security as dependencies (API key header, PyJWT)."""
    import jwt
    from fastapi import Depends, FastAPI, Header, HTTPException
    from pydantic import BaseModel, Field

    class OrderInput(BaseModel):
        amount: Annotated[float, Field(ge=0)]
        type: Literal["retail", "wholesale"]
        customer: Annotated[str, Field(pattern=EMAIL)]
        note: Annotated[str | None, Field(max_length=500)] = None

    class Order(BaseModel):
        id: str
        amount: float
        type: str
        customer: str
        note: str | None = None
        status: str
        created_at: str

    digests = {hashlib.sha256(_api_key().encode()).digest()}
    public = _public_key()

    def api_key(x_api_key: Annotated[str, Header()] = "") -> None:
        if hashlib.sha256(x_api_key.encode()).digest() not in digests:
            raise HTTPException(401)

    def bearer(authorization: Annotated[str, Header()] = "") -> None:
        try:
            jwt.decode(authorization.removeprefix("Bearer "), public, algorithms=["ES256"],
                       issuer=ISSUER)
        except jwt.PyJWTError:
            raise HTTPException(401) from None

    app = FastAPI()

    @app.get("/hello")
    async def hello() -> Any:
        return {"message": "Hello, world!"}

    @app.get("/io")
    async def io() -> Any:
        await asyncio.sleep(0.001)
        return {"message": "Hello, world!"}

    @app.post("/orders", status_code=201, response_model=Order, dependencies=[Depends(api_key)])
    async def create(o: OrderInput) -> Any:
        return order(o.amount, o.type, o.customer, o.note)

    @app.post("/orders/jwt", status_code=201, response_model=Order,
              dependencies=[Depends(bearer)])
    async def create_jwt(o: OrderInput) -> Any:
        return order(o.amount, o.type, o.customer, o.note)

    return app


# -- Litestar ----------------------------------------------------------------------------------


def litestar() -> Any:
    """The four routes in Litestar, security as guards (API key header, PyJWT)."""
    import jwt
    import msgspec
    from litestar import Litestar, get, post
    from litestar.connection import ASGIConnection
    from litestar.exceptions import NotAuthorizedException
    from litestar.handlers import BaseRouteHandler

    class OrderInput(msgspec.Struct):
        amount: Annotated[float, msgspec.Meta(ge=0)]
        type: Literal["retail", "wholesale"]
        customer: Annotated[str, msgspec.Meta(pattern=EMAIL)]
        note: Annotated[str, msgspec.Meta(max_length=500)] | None = None

    class Order(msgspec.Struct):
        id: str
        amount: float
        type: str
        customer: str
        status: str
        created_at: str
        note: str | None = None

    digests = {hashlib.sha256(_api_key().encode()).digest()}
    public = _public_key()

    def api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        given = connection.headers.get("x-api-key", "")
        if hashlib.sha256(given.encode()).digest() not in digests:
            raise NotAuthorizedException()

    def bearer(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        token = connection.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            jwt.decode(token, public, algorithms=["ES256"], issuer=ISSUER)
        except jwt.PyJWTError:
            raise NotAuthorizedException() from None

    @get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "Hello, world!"}

    @get("/io")
    async def io() -> dict[str, str]:
        await asyncio.sleep(0.001)
        return {"message": "Hello, world!"}

    @post("/orders", status_code=201, guards=[api_key])
    async def create(data: OrderInput) -> Order:
        return Order(**order(data.amount, data.type, data.customer, data.note))

    @post("/orders/jwt", status_code=201, guards=[bearer])
    async def create_jwt(data: OrderInput) -> Order:
        return Order(**order(data.amount, data.type, data.customer, data.note))

    return Litestar([hello, io, create, create_jwt], logging_config=None)


def app(name: str) -> Any:
    """The app a runner command names: raw, bastion-bare, bastion-full, fastapi, litestar."""
    makers = {
        "raw": raw,
        "bastion-bare": lambda: bastion(full=False),
        "bastion-full": lambda: bastion(full=True),
        "fastapi": fastapi,
        "litestar": litestar,
    }
    return makers[name]()


# For `uvicorn bench.served_apps:asgi` and `granian ... bench.served_apps:asgi`.
def __getattr__(name: str) -> Any:
    if name == "asgi":
        return app(os.environ["BENCH_APP"])
    raise AttributeError(name)
