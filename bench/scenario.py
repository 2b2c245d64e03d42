"""The benchmark scenario, written once per framework: `POST /orders` with a validated body.

Every variant validates the same rules (amount >= 0, type in an enum, customer an email,
note at most 500 characters), answers 201 with the same JSON, and does no I/O.

The secured variants (`security="apikey"` or `"jwt"`) also authenticate the caller the way
each framework's users do it: an `X-API-Key` header looked up by its SHA-256 digest, or an
ES256 bearer token verified with PyJWT (signature, `exp`, `sub`). Every app trusts the same
key and the same token, so the work asked of each is the same.
"""

# No `from __future__ import annotations`: FastAPI and Litestar read these hints at run time.

import hashlib
import time
from functools import cache
from typing import Annotated, Any, Literal

BODY = b'{"amount": 12.5, "type": "retail", "customer": "ada@example.com", "note": "gift"}'
ORDER_ID = "123e4567-e89b-12d3-a456-426614174000"
CREATED = "2026-11-28T09:00:00+00:00"
EMAIL = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"


#: The API key every secured variant accepts (a 256-bit URL-safe key, as APIKeyStore makes).
API_KEY = "dGhpcy1pcy1hLWJlbmNoLWtleS0wMTIzNDU2Nzg5YWJj"
_KEY_DIGESTS = {hashlib.sha256(API_KEY.encode()).digest(): "acme"}


@cache
def _es256() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    return private, private.public_key()


@cache
def token() -> str:
    """One ES256 token for the whole run, valid for an hour: the same token on every request."""
    import jwt

    now = int(time.time())
    claims = {"sub": "acme", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, _es256()[0], algorithm="ES256", headers={"kid": "bench"})


def credentials(security: str | None) -> list[tuple[bytes, bytes]]:
    """The request headers carrying the credential of `security`."""
    if security == "apikey":
        return [(b"x-api-key", API_KEY.encode())]
    if security == "jwt":
        return [(b"authorization", b"Bearer " + token().encode())]
    return []


def _check_key(key: str | None) -> str | None:
    # What a peer's API-key check does: the key's digest looked up among the known ones.
    if not key:
        return None
    return _KEY_DIGESTS.get(hashlib.sha256(key.encode()).digest())


def _check_token(value: str | None) -> str | None:
    # What a peer's JWT check does: PyJWT verifies the signature and the claims each time.
    import jwt

    if not value or not value.lower().startswith("bearer "):
        return None
    try:
        claims = jwt.decode(value[7:], _es256()[1], algorithms=["ES256"],
                            options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    subject: str = claims["sub"]
    return subject


def order(amount: float, type_: str, customer: str, note: str | None) -> dict[str, Any]:
    return {"id": ORDER_ID, "amount": amount, "type": type_, "customer": customer,
            "note": note, "status": "open", "created_at": CREATED}


def bastion_app(
    *, full: bool = False, logger: Any = None, telemetry: Any = None, security: str | None = None,
    validate_results: bool = True,
) -> Any:
    """The scenario in Bastion: bare (no observability) or with its whole default stack.

    `validate_results=False` is the design's `ValidateResults(False)`.
    """
    import bastion
    from bastion.dsl import (
        API,
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
        ValidateResults,
    )
    from bastion.security import APIKeyStore, JWTVerifier

    with API("bench") as api:
        ValidateResults(validate_results)
        key_scheme = APIKeySecurity("api_key")
        jwt_scheme = JWTSecurity("jwt")
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
    with Service("orders"), Method("create"):
        if security == "apikey":
            Security(key_scheme)
        elif security == "jwt":
            Security(jwt_scheme)
        with Payload():
            if security == "apikey":
                APIKey("api_key", "key", String)
            elif security == "jwt":
                Token("token", String)
            Attribute("order", OrderInput)
            Required("order")
        Result(Order)
        with HTTP():
            POST("/orders")
            Body("order")
            Response(StatusCreated)

    class Orders:
        api_key_auth = APIKeyStore()
        jwt_auth = JWTVerifier(keys={"bench": _es256()[1]}, algorithms=["ES256"],
                               required_claims=("exp", "sub"))

        async def create(self, p: Any) -> Any:
            o = p.order
            return order(o.amount, o.type, o.customer, o.note)

    Orders.api_key_auth.add("acme", API_KEY)
    if not full:
        return bastion.App(api, {"orders": Orders()}, docs=False,
                           observe=False)
    return bastion.App(api, {"orders": Orders()}, docs=False,
                       logger=logger, telemetry=telemetry)


def fastapi_app(*, security: str | None = None) -> Any:
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
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

    app = FastAPI()
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    async def by_key(key: Annotated[str | None, Depends(key_header)]) -> str:
        client = _check_key(key)
        if client is None:
            raise HTTPException(401, "invalid API key")
        return client

    async def by_token(
        cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        subject = _check_token(f"Bearer {cred.credentials}" if cred else None)
        if subject is None:
            raise HTTPException(401, "invalid token")
        return subject

    deps = {"apikey": [Depends(by_key)], "jwt": [Depends(by_token)]}.get(security or "", [])

    @app.post("/orders", status_code=201, response_model=Order, dependencies=deps)
    async def create(o: OrderInput) -> Any:
        return order(o.amount, o.type, o.customer, o.note)

    return app


def litestar_app(*, security: str | None = None) -> Any:
    import msgspec
    from litestar import Litestar, post
    from litestar.connection import ASGIConnection
    from litestar.exceptions import NotAuthorizedException
    from litestar.handlers.base import BaseRouteHandler

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

    async def by_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if _check_key(connection.headers.get("x-api-key")) is None:
            raise NotAuthorizedException("invalid API key")

    async def by_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if _check_token(connection.headers.get("authorization")) is None:
            raise NotAuthorizedException("invalid token")

    guards = {"apikey": [by_key], "jwt": [by_token]}.get(security or "", [])

    @post("/orders", status_code=201, guards=guards)
    async def create(data: OrderInput) -> Order:
        return Order(**order(data.amount, data.type, data.customer, data.note))

    return Litestar([create], logging_config=None)
