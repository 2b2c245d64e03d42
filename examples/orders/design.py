"""The orders API, described once: types, security, methods, their HTTP and gRPC mappings.

Field numbers (`Field(n, ...)`) are the protobuf tags of the gRPC messages; HTTP ignores
them. Credentials travel as on HTTP over both transports: `authorization: Bearer <jwt>`
and `x-api-key: <key>` (headers, or gRPC metadata).
"""

from bastion.dsl import *

#: The last page `list` serves: bounded so that no page the design allows can overflow
#: the database's OFFSET (page * per_page stays far below 2**63).
MAX_PAGE = 1_000_000

JWTAuth = JWTSecurity(
    "jwt",
    description="Bearer JWT signed by the identity provider",
    scopes={"orders:read": "Read orders", "orders:write": "Create and cancel orders"},
)
APIKeyAuth = APIKeySecurity(
    "api_key", description="API key for read-only integrations", rate_limit="600/minute"
)

with API("orders") as api:
    Title("Orders API")
    Description("Create, read, list and cancel orders.")
    Version("1.0.0")
    Server("http://127.0.0.1:8080", "the demo")
    Security(JWTAuth, scopes=["orders:write"])  # the default: writers only

with Type("OrderInput") as OrderInput:
    Description("What a client sends to create an order.")
    Field(1, "amount", Float64, "Total amount", minimum=0, maximum=1_000_000, example=12.5)
    Field(2, "type", String, "Kind of order", enum=["retail", "wholesale"])
    Field(3, "customer", String, "Customer email", format=Email)
    Field(4, "note", String, "Free text", max_length=500)
    Required("amount", "type", "customer")

with Type("Order") as Order:
    Field(1, "id", String, "Order id", format=UUID)
    Field(2, "amount", Float64, minimum=0)
    Field(3, "type", String, enum=["retail", "wholesale"])
    Field(4, "customer", String, format=Email)
    Field(5, "note", String, max_length=500)
    Field(6, "status", String, enum=["open", "cancelled"])
    Field(7, "created_at", String, format=DateTime)  # a google.protobuf.Timestamp on gRPC
    Required("id", "amount", "type", "customer", "status", "created_at")

with Type("OrderPage") as OrderPage:
    Field(1, "orders", ArrayOf(Order))
    Field(2, "page", Int, minimum=1, maximum=MAX_PAGE)
    Field(3, "per_page", Int, minimum=1, maximum=100)
    Field(4, "total", Int, minimum=0)
    Required("orders", "page", "per_page", "total")

with Service("orders"):
    Description("The order book.")
    with HTTP():
        Path("/orders")
    with GRPC():
        # Each error's gRPC code, for every method of the service (HTTP maps them below).
        Response("not_found", CodeNotFound)
        Response("rejected", CodeFailedPrecondition)
        Response("already_cancelled", CodeFailedPrecondition)

    # Each method declares the errors it can return, so the document lists no others.
    with Method("create"):
        Description("Create an order.")
        Error("rejected", description="The screening service refused the order")
        with Payload():
            Token("token", String)
            Field(1, "order", OrderInput)
            Required("order")
        Result(Order)
        with HTTP():
            POST("/")
            Body("order")
            Response(StatusCreated)
            Response("rejected", StatusUnprocessableEntity)
        with GRPC():
            Response(CodeOK)

    with Method("show"):
        Description("Show one order.")
        Error("not_found", description="No order has this id")
        Security(APIKeyAuth)
        Security(JWTAuth, scopes=["orders:read"])
        with Payload():
            APIKey("api_key", "key", String)
            Token("token", String)
            Field(1, "id", String, format=UUID)
            Required("id")
        Result(Order)
        with HTTP():
            GET("/{id}")
            Response("not_found", StatusNotFound)
        with GRPC():
            pass

    with Method("list"):
        Description("List orders, newest first, a page at a time.")
        Security(APIKeyAuth)
        Security(JWTAuth, scopes=["orders:read"])
        with Payload():
            APIKey("api_key", "key", String)
            Token("token", String)
            Field(1, "page", Int, minimum=1, maximum=MAX_PAGE, default=1)
            Field(2, "per_page", Int, minimum=1, maximum=100, default=20)
            Field(3, "type", String, enum=["retail", "wholesale"])
        Result(OrderPage)
        with HTTP():
            GET("/")
            Param("page")
            Param("per_page")
            Param("type")
        with GRPC():
            pass

    with Method("cancel"):
        Description("Cancel an open order.")
        Error("not_found", description="No order has this id")
        Error("already_cancelled", description="The order was cancelled before")
        with Payload():
            Token("token", String)
            Field(1, "id", String, format=UUID)
            Required("id")
        Result(Order)
        with HTTP():
            POST("/{id}/cancel")
            Response("not_found", StatusNotFound)
            Response("already_cancelled", StatusConflict)
        with GRPC():
            pass

with Service("health"):
    Description("Liveness for load balancers that want a public, versioned path.")
    with Method("ping"):
        NoSecurity()
        with Result():
            Field(1, "status", String)
            Required("status")
        with HTTP():
            GET("/ping")
        with GRPC():
            pass
