"""A design that depends on another service: billing invoices orders it reads."""

from bastion.dsl import *

with API("billing") as api:
    Title("Billing API")
with Service("billing"):
    Error("not_found", description="No such order")
    with HTTP():
        Response("not_found", StatusNotFound)
    with Method("invoice"):
        NoSecurity()
        with Payload():
            Attribute("order_id", String, format=UUID)
            Required("order_id")
        with Result():
            Attribute("order_id", String)
            Attribute("total", Float64)
            Required("order_id", "total")
        with HTTP():
            GET("/invoices/{order_id}")


