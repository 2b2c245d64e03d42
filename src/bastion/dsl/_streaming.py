"""Streams, as Goa declares them: `StreamingPayload(T)` and `StreamingResult(T)` in a Method.

Transport-neutral: gRPC serves them today (server, client and bidirectional streams);
another transport may map the same declarations later.

- `StreamingResult(T)` replaces `Result(T)`: the method sends any number of `T` messages
  (a server stream). The service method is an async generator yielding them.
- `StreamingPayload(T)`: the client sends any number of `T` messages (a client stream),
  besides the method's `Payload`, which is sent once, first. The service method takes
  the stream as its last argument, an async iterator of validated messages.
- Both: a bidirectional stream.
"""

from __future__ import annotations

from bastion.dsl._state import _Block, _fail, _need
from bastion.dsl.expr import AttributeExpr, DataType, Location, MethodExpr, TypeRef


def _as_type(t: DataType | str | None, where: Location) -> DataType | None:
    if t is None or isinstance(t, DataType):
        return t
    if isinstance(t, str):
        return TypeRef(name=t, location=where)
    raise _fail(where, f"{t!r} is not a type: use a primitive, a Type, ArrayOf, MapOf or a name")


def StreamingPayload(
    type: DataType | str | None = None, description: str | None = None
) -> _Block[AttributeExpr]:
    """Declare the type of each message the client streams; a `with` block for an object."""
    where = Location.here()
    m = _need((MethodExpr,), "StreamingPayload", where, "Method")
    if m.streaming_payload is not None:
        raise _fail(where, f"{m.qualified}: StreamingPayload is declared twice")
    attr = AttributeExpr(name="streaming_payload", type=_as_type(type, where), location=where,
                         description=description)
    m.streaming_payload = attr
    return _Block(attr)


def StreamingResult(
    type: DataType | str | None = None, description: str | None = None
) -> _Block[AttributeExpr]:
    """Declare the type of each message the method streams (instead of a `Result`)."""
    where = Location.here()
    m = _need((MethodExpr,), "StreamingResult", where, "Method")
    if m.result is not None:
        what = "StreamingResult" if m.streaming_result else "Result"
        raise _fail(where, f"{m.qualified}: StreamingResult and {what} are both declared; "
                    "a method streams its result or returns one")
    attr = AttributeExpr(name="result", type=_as_type(type, where), location=where,
                         description=description)
    m.result = attr
    m.streaming_result = True
    return _Block(attr)
