"""The calc design, ported line for line from Goa's `examples/error/design`.

Like Goa's, it declares no `API(...)`: the design gets a default API, named after its
first service. `add` has no HTTP mapping, as in Goa (it is served over gRPC there).
"""

from __future__ import annotations

from bastion.dsl import *

with Type("DivByZero") as DivByZero:
    Description("DivByZero is the error returned when using value 0 as divisor.")
    Attribute("message", String, "division by zero leads to infinity.")
    Required("message")

with Service("calc"):
    # The timeout error can be returned by both the "divide" and "add" methods.
    Error("timeout", timeout=True)  # the default error type (ErrorResult)

    with Method("divide"):
        with Payload():
            Attribute("dividend", Int)
            Attribute("divisor", Int)
            Required("dividend", "divisor")
        with Result():
            Attribute("quotient", Int)
            Attribute("reminder", Int)
            Required("quotient", "reminder")
        # The "div_by_zero" error is specific to the "divide" method.
        Error("div_by_zero", DivByZero, "division by 0")  # a custom error type
        with HTTP():
            POST("/")
            with Response("div_by_zero", StatusBadRequest):
                Description("Response used for division by zero errors")
            with Response("timeout", StatusGatewayTimeout):
                Description("Operation timed out")

    with Method("add"):
        with Payload():
            Attribute("a", Int)
            Attribute("b", Int)
            Required("a", "b")
        Result(Int)

_design = current_design()
if _design is None:  # pragma: no cover - the declarations above made one
    raise RuntimeError("the design declares nothing")
api = _design
