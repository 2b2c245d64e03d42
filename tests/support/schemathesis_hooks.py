"""Schemathesis hooks (`SCHEMATHESIS_HOOKS`): the App's msgpack and CBOR bodies, both ways.

The document lists every codec's media type for each body, so schemathesis sends
msgpack and CBOR requests and checks msgpack and CBOR responses against the schemas.
"""

from __future__ import annotations

from typing import Any

import cbor2
import msgspec
import schemathesis


@schemathesis.serializer("application/msgpack")
def to_msgpack(ctx: Any, value: Any) -> bytes:
    return msgspec.msgpack.encode(value)


@schemathesis.serializer("application/cbor")
def to_cbor(ctx: Any, value: Any) -> bytes:
    return cbor2.dumps(value)


@schemathesis.deserializer("application/msgpack")
def from_msgpack(ctx: Any, response: Any) -> Any:
    return msgspec.msgpack.decode(response.content)


@schemathesis.deserializer("application/cbor")
def from_cbor(ctx: Any, response: Any) -> Any:
    return cbor2.loads(response.content)
