"""The benchmark scenario, written once per framework: `POST /orders` with a validated body.

Every variant validates the same rules (amount >= 0, type in an enum, customer an email,
note at most 500 characters), answers 201 with the same JSON, and does no I/O.
"""

# No `from __future__ import annotations`: FastAPI and Litestar read these hints at run time.

from typing import Annotated, Any, Literal

BODY = b'{"amount": 12.5, "type": "retail", "customer": "ada@example.com", "note": "gift"}'
ORDER_ID = "123e4567-e89b-12d3-a456-426614174000"
CREATED = "2026-11-28T09:00:00+00:00"
EMAIL = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"


def order(amount: float, type_: str, customer: str, note: str | None) -> dict[str, Any]:
    return {"id": ORDER_ID, "amount": amount, "type": type_, "customer": customer,
            "note": note, "status": "open", "created_at": CREATED}


def bastion_app(*, full: bool = False, logger: Any = None, telemetry: Any = None) -> Any:
    """The scenario in Bastion: bare (no observability) or with its whole default stack."""
    import bastion
    from bastion.dsl import (
        API,
        HTTP,
        POST,
        UUID,
        Attribute,
        Body,
        DateTime,
        Email,
        Float64,
        Method,
        Payload,
        Required,
        Response,
        Result,
        Service,
        StatusCreated,
        String,
        Type,
    )

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
    with Service("orders"), Method("create"):
        with Payload():
            Attribute("order", OrderInput)
            Required("order")
        Result(Order)
        with HTTP():
            POST("/orders")
            Body("order")
            Response(StatusCreated)

    class Orders:
        async def create(self, p: Any) -> Any:
            o = p.order
            return order(o.amount, o.type, o.customer, o.note)

    if not full:
        return bastion.App(api, {"orders": Orders()}, openapi_path=None, docs_path=None,
                           observability=False)
    return bastion.App(api, {"orders": Orders()}, openapi_path=None, docs_path=None,
                       logger=logger, telemetry=telemetry)


def fastapi_app() -> Any:
    from fastapi import FastAPI
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

    @app.post("/orders", status_code=201, response_model=Order)
    async def create(o: OrderInput) -> Any:
        return order(o.amount, o.type, o.customer, o.note)

    return app


def litestar_app() -> Any:
    import msgspec
    from litestar import Litestar, post

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

    @post("/orders", status_code=201)
    async def create(data: OrderInput) -> Order:
        return Order(**order(data.amount, data.type, data.customer, data.note))

    return Litestar([create], logging_config=None)
