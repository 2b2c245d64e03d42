"""The orders API, described once: types, security, methods and their HTTP mapping."""

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
    Attribute("amount", Float64, "Total amount", minimum=0, maximum=1_000_000, example=12.5)
    Attribute("type", String, "Kind of order", enum=["retail", "wholesale"])
    Attribute("customer", String, "Customer email", format=Email)
    Attribute("note", String, "Free text", max_length=500)
    Required("amount", "type", "customer")

with Type("Order") as Order:
    Attribute("id", String, "Order id", format=UUID)
    Attribute("amount", Float64, minimum=0)
    Attribute("type", String, enum=["retail", "wholesale"])
    Attribute("customer", String, format=Email)
    Attribute("note", String, max_length=500)
    Attribute("status", String, enum=["open", "cancelled"])
    Attribute("created_at", String, format=DateTime)
    Required("id", "amount", "type", "customer", "status", "created_at")

with Type("OrderPage") as OrderPage:
    Attribute("orders", ArrayOf(Order))
    Attribute("page", Int, minimum=1, maximum=MAX_PAGE)
    Attribute("per_page", Int, minimum=1, maximum=100)
    Attribute("total", Int, minimum=0)
    Required("orders", "page", "per_page", "total")

with Service("orders"):
    Description("The order book.")
    with HTTP():
        Path("/orders")

    # Each method declares the errors it can return, so the document lists no others.
    with Method("create"):
        Description("Create an order.")
        Error("rejected", description="The screening service refused the order")
        with Payload():
            Token("token", String)
            Attribute("order", OrderInput)
            Required("order")
        Result(Order)
        with HTTP():
            POST("/")
            Body("order")
            Response(StatusCreated)
            Response("rejected", StatusUnprocessableEntity)

    with Method("show"):
        Description("Show one order.")
        Error("not_found", description="No order has this id")
        Security(APIKeyAuth)
        Security(JWTAuth, scopes=["orders:read"])
        with Payload():
            APIKey("api_key", "key", String)
            Token("token", String)
            Attribute("id", String, format=UUID)
            Required("id")
        Result(Order)
        with HTTP():
            GET("/{id}")
            Response("not_found", StatusNotFound)

    with Method("list"):
        Description("List orders, newest first, a page at a time.")
        Security(APIKeyAuth)
        Security(JWTAuth, scopes=["orders:read"])
        with Payload():
            APIKey("api_key", "key", String)
            Token("token", String)
            Attribute("page", Int, minimum=1, maximum=MAX_PAGE, default=1)
            Attribute("per_page", Int, minimum=1, maximum=100, default=20)
            Attribute("type", String, enum=["retail", "wholesale"])
        Result(OrderPage)
        with HTTP():
            GET("/")
            Param("page")
            Param("per_page")
            Param("type")

    with Method("cancel"):
        Description("Cancel an open order.")
        Error("not_found", description="No order has this id")
        Error("already_cancelled", description="The order was cancelled before")
        with Payload():
            Token("token", String)
            Attribute("id", String, format=UUID)
            Required("id")
        Result(Order)
        with HTTP():
            POST("/{id}/cancel")
            Response("not_found", StatusNotFound)
            Response("already_cancelled", StatusConflict)

with Service("health"):
    Description("Liveness for load balancers that want a public, versioned path.")
    with Method("ping"):
        NoSecurity()
        with Result():
            Attribute("status", String)
            Required("status")
        with HTTP():
            GET("/ping")
