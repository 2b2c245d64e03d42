"""OpenAPI for streaming methods: the WebSocket upgrade, or the event stream.

OpenAPI 3.1 has no words for a WebSocket: its operation is documented as what a client
sees over HTTP — a `GET` answered `101 Switching Protocols`, or refused with the usual
errors — with an `x-websocket` extension naming the schema of each message each way
(`receives`: what the server reads, `sends`: what it writes, `result`: the one message a
client stream is answered with). A server-sent events stream is a `200` whose content
is `text/event-stream`, its schema the event's `data` (`x-sse` names the fields).
"""

from __future__ import annotations

from typing import Any

from bastion.dsl._streams import sse_of
from bastion.dsl.expr import AttributeExpr, MethodExpr, UserTypeExpr
from bastion.openapi.jsonschema import SchemaRegistry

__all__ = ["document_stream"]


def _schema(schemas: SchemaRegistry, attr: AttributeExpr) -> dict[str, Any]:
    if isinstance(attr.type, UserTypeExpr):
        return schemas.ref(attr.type)
    schema = schemas.attribute(attr)
    schema.pop("description", None)
    return schema


def document_stream(op: dict[str, Any], m: MethodExpr, schemas: SchemaRegistry) -> None:
    """Rewrite the operation of streaming method `m` as its stream is served."""
    responses: dict[str, Any] = op["responses"]
    success = [code for code in responses if code.startswith("2")]
    for code in success:
        del responses[code]
    sse = sse_of(m)
    if sse is not None and m.result is not None:
        data = m.result
        obj = m.result.object
        if sse.data is not None and obj is not None:
            data = obj.attributes[sse.data]
        fields = {k: v for k, v in (("data", sse.data), ("id", sse.id), ("event", sse.event),
                                    ("retry", sse.retry)) if v is not None}
        responses["200"] = {
            "description": "A stream of server-sent events, one per result; comment lines "
            "are heartbeats",
            "content": {"text/event-stream": {"schema": _schema(schemas, data)}},
        }
        op["x-sse"] = {"fields": fields, **({"lastEventId": sse.request_id}
                                             if sse.request_id else {})}
    else:
        responses["101"] = {
            "description": "Switching Protocols: the stream continues as a WebSocket, each "
            "message one JSON text frame",
        }
        ext: dict[str, Any] = {}
        if m.streaming_payload is not None:
            ext["receives"] = _schema(schemas, m.streaming_payload)
            ext["end"] = "the client ends its stream with the message null"
        if m.result is not None:
            ext["result" if m.stream_kind == "client" else "sends"] = _schema(schemas, m.result)
        ext["closes"] = {
            "1000": "done", "1001": "server shutting down, or idle",
            "1007": "a message that is not valid: the reason names its fields",
            "1008": "a design error (its name in the reason), or a message to a stream "
                    "that reads none",
            "1009": "a message too big", "1011": "a server error (its id in the reason)",
            "1013": "a temporary design error",
        }
        op["x-websocket"] = ext
    op["responses"] = dict(sorted(responses.items()))
