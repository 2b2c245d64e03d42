"""Streams over HTTP: WebSocket by default, `ServerSentEvents()` for a server stream.

A method with `StreamingPayload(T)` or `StreamingResult(T)` and an `HTTP()` block is
served as Goa serves it: a WebSocket on its `GET` route (server, client and
bidirectional streams), its `Payload` read once from the upgrade request's path, query
and headers. `ServerSentEvents()` in the HTTP block serves a server stream as
`text/event-stream` instead, each result an event::

    with Method("feed"):
        with Payload():
            Attribute("since", String)
        StreamingResult(Notice)
        with HTTP():
            GET("/feed")
            with ServerSentEvents("text"):       # the `text` attribute is the data
                SSEEventID("id")
                SSEEventType("kind")
                SSERequestID("since")            # read from Last-Event-ID

As in Goa, `ServerSentEvents` at the API or service level applies to their server
streams; a method that reads a client stream keeps WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.dsl._problems import Problems
from bastion.dsl._state import _Block, _fail, _need
from bastion.dsl.expr import (
    APIExpr,
    AttributeExpr,
    HTTPMethodExpr,
    Location,
    MethodExpr,
    Primitive,
    UserTypeExpr,
)

__all__ = [
    "SSEEventData",
    "SSEEventID",
    "SSEEventRetry",
    "SSEEventType",
    "SSEExpr",
    "SSERequestID",
    "ServerSentEvents",
    "check_streams",
    "prepare_streams",
    "sse_of",
]

#: The request header a reconnecting EventSource sends (WHATWG HTML, server-sent events).
LAST_EVENT_ID = "Last-Event-ID"
_INTEGERS = frozenset({"integer"})


@dataclass(eq=False)
class SSEExpr:
    """How a server stream's results become server-sent events (Goa's HTTPSSEExpr)."""

    location: Location
    data: str | None = None  # the result attribute sent as `data`; None: the whole result
    id: str | None = None  # the result attribute sent as `id`
    event: str | None = None  # ... as `event`
    retry: str | None = None  # ... as `retry` (milliseconds)
    request_id: str | None = None  # the payload attribute read from `Last-Event-ID`
    #: Where each field was named, for design errors.
    named_at: dict[str, Location] | None = None


def ServerSentEvents(data: str | None = None) -> _Block[SSEExpr]:
    """Serve the server stream(s) of this HTTP block as server-sent events.

    `data` names the result attribute sent as each event's data (the whole result when
    omitted); a `with` block maps the other fields (`SSEEventID`, `SSEEventType`,
    `SSEEventRetry`, `SSERequestID`).
    """
    where = Location.here()
    http = _need((HTTPMethodExpr,), "ServerSentEvents", where, "an HTTP block")
    if http.sse is not None:
        raise _fail(where, "ServerSentEvents is declared twice in this HTTP block")
    if data is not None and (not isinstance(data, str) or not data):
        raise _fail(where, f"ServerSentEvents({data!r}): name the data attribute as a string")
    sse = SSEExpr(location=where, data=data, named_at={"data": where} if data else {})
    http.sse = sse
    return _Block(sse)


def _field(fn: str, slot: str, name: str) -> None:
    where = Location.here()
    sse: SSEExpr = _need((SSEExpr,), fn, where, "a ServerSentEvents block")
    if not isinstance(name, str) or not name:
        raise _fail(where, f"{fn}({name!r}): name an attribute")
    setattr(sse, slot, name)
    if sse.named_at is not None:
        sse.named_at[slot] = where


def SSEEventData(name: str) -> None:
    """Send result attribute `name` as each event's `data` (its other attributes are not sent)."""
    _field("SSEEventData", "data", name)


def SSEEventID(name: str) -> None:
    """Send result attribute `name` (a String) as each event's `id`."""
    _field("SSEEventID", "id", name)


def SSEEventType(name: str) -> None:
    """Send result attribute `name` (a String) as each event's `event` type."""
    _field("SSEEventType", "event", name)


def SSEEventRetry(name: str) -> None:
    """Send result attribute `name` (an integer, milliseconds) as each event's `retry`."""
    _field("SSEEventRetry", "retry", name)


def SSERequestID(name: str) -> None:
    """Read payload attribute `name` (a String) from the `Last-Event-ID` request header."""
    _field("SSERequestID", "request_id", name)


def sse_of(m: MethodExpr) -> SSEExpr | None:
    """The server-sent events mapping that applies to `m`, or None (WebSocket or unary).

    The nearest HTTP block that declares one wins; at the API or service level it applies
    to server streams only, as in Goa.
    """
    if m.http is None or not m.streaming_result:
        return None
    if m.http.sse is not None:
        found: SSEExpr = m.http.sse  # with a client stream too: check_streams refuses it
        return found
    if m.streaming_payload is not None:
        return None
    for level in (m.service.http, m.service.api.http):
        if level is not None and level.sse is not None:
            inherited: SSEExpr = level.sse
            return inherited
    return None


def prepare_streams(api: APIExpr, problems: Problems) -> None:
    """Map each `SSERequestID` attribute to the `Last-Event-ID` header (before HTTP checks)."""
    for m in api.methods():
        sse = sse_of(m)
        if sse is None or sse.request_id is None or m.http is None:
            continue
        obj = m.payload.object if m.payload is not None else None
        if obj is None or sse.request_id not in obj.attributes:
            continue  # named in check_streams
        m.http.headers.setdefault(sse.request_id, LAST_EVENT_ID)


def check_streams(api: APIExpr, problems: Problems) -> None:
    """Check every HTTP stream: a GET route, no body, and the SSE mapping's attributes."""
    for m in api.methods():
        http = m.http
        if http is None:
            continue
        if m.stream_kind is None:
            if http.sse is not None:
                problems.add(http.sse.location, f"{m.qualified}: ServerSentEvents needs a "
                             "StreamingResult")
            continue
        for r in http.routes:
            if r.verb != "GET":
                problems.add(r.location, f"{m.qualified} streams over HTTP (WebSocket or "
                             f"server-sent events), which takes a GET route, not {r.verb}")
        if http.body is not None:
            problems.add(http.body_location or http.location,
                         f"{m.qualified} streams over HTTP: its payload travels in the path, "
                         "query and headers; a stream has no request body")
        if http.sse is not None and m.streaming_payload is not None:
            problems.add(http.sse.location, f"{m.qualified} reads a client stream "
                         "(StreamingPayload): server-sent events go one way only; remove "
                         "ServerSentEvents to serve it over WebSocket")
            continue
        sse = sse_of(m)
        if sse is not None:
            _check_sse(m, sse, problems)


def _check_sse(m: MethodExpr, sse: SSEExpr, problems: Problems) -> None:
    where = sse.named_at or {}
    result = m.result
    obj = result.object if result is not None else None
    for slot, what, kinds in (("data", "data", None), ("id", "id", {"string"}),
                              ("event", "event type", {"string"}),
                              ("retry", "retry", _INTEGERS)):
        name = getattr(sse, slot)
        if name is None:
            continue
        at = where.get(slot, sse.location)
        attr = obj.attributes.get(name) if obj is not None else None
        if attr is None:
            have = ", ".join(obj.attributes) if obj is not None else "none: not an object"
            problems.add(at, f"{m.qualified}: SSE {what} attribute {name!r} is not an "
                         f"attribute of its StreamingResult (attributes: {have})")
            continue
        if kinds is not None and _kind(attr) not in kinds:
            problems.add(at, f"{m.qualified}: SSE {what} attribute {name!r} must be "
                         f"{' or '.join(sorted(kinds))}, not {_kind(attr)}")
    if sse.request_id is not None:
        at = where.get("request_id", sse.location)
        pobj = m.payload.object if m.payload is not None else None
        attr = pobj.attributes.get(sse.request_id) if pobj is not None else None
        if attr is None:
            problems.add(at, f"{m.qualified}: SSERequestID {sse.request_id!r} is not an "
                         "attribute of its Payload")
        elif _kind(attr) != "string":
            problems.add(at, f"{m.qualified}: SSERequestID {sse.request_id!r} must be a "
                         f"string, not {_kind(attr)}")


def _kind(attr: AttributeExpr) -> str:
    t = attr.type
    while isinstance(t, UserTypeExpr) and isinstance(t.attribute.type, Primitive):
        t = t.attribute.type
    return t.kind if isinstance(t, Primitive) else "an object or collection"
