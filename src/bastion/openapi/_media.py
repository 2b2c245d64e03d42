"""The media types of bodies in the document: codecs, multipart forms, raw streams.

The App tells the builder which codecs it has (`bastion.http.codecs`); without an App
the document lists Bastion's defaults. A String or Bytes body is also `text/plain`; a
`MultipartRequest()` body is `multipart/form-data` (its `File` parts `format: binary`);
a raw streamed body (`SkipRequestBodyEncodeDecode`, `SkipResponseBodyEncodeDecode`) is
bytes of the response's `ContentType`, `application/octet-stream` by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bastion.dsl._bodies import bodies_of, is_file
from bastion.dsl.expr import ArrayExpr, AttributeExpr, DataType, MethodExpr, Primitive

__all__ = ["DEFAULT_MEDIA", "MediaTypes", "binary", "is_text", "multipart_schema"]

#: (media type, structured) of the App's default codecs, in order of preference.
DEFAULT_MEDIA: tuple[tuple[str, bool], ...] = (
    ("application/json", True), ("application/msgpack", True), ("application/cbor", True),
    ("text/plain", False),
)
_OCTETS = "application/octet-stream"


def binary() -> dict[str, Any]:
    """The schema of raw bytes."""
    return {"type": "string", "format": "binary"}


def is_text(t: DataType | None) -> bool:
    """Whether a body of type `t` may be written as text (a String or Bytes)."""
    return isinstance(t, Primitive) and t.kind in ("string", "bytes")


class MediaTypes:
    """The `content` maps of a document, from the App's codecs."""

    def __init__(self, media: Sequence[tuple[str, bool]] | None) -> None:
        self.media = tuple(media) if media is not None else DEFAULT_MEDIA

    def content(self, schema: dict[str, Any], *, text: bool = False,
                fixed: str | None = None) -> dict[str, Any]:
        """`{media type: {schema}}` for each type a body of `schema` is written in."""
        if fixed is not None:
            return {fixed: {"schema": schema}}
        return {m: {"schema": schema} for m, structured in self.media if structured or text}

    def request(self, m: MethodExpr, schema: dict[str, Any], t: DataType | None) -> dict[str, Any]:
        """The request body's `content`: raw bytes, a multipart form, or each codec."""
        bodies = bodies_of(m.http)
        if bodies is not None and bodies.skip_request is not None:
            return {_OCTETS: {"schema": binary()}}
        if bodies is not None and bodies.multipart is not None:
            return {"multipart/form-data": {"schema": schema}}
        return self.content(schema, text=is_text(t))

    def streamed(self, m: MethodExpr) -> dict[str, Any] | None:
        """The `content` of a raw streamed response, or None for an encoded one."""
        bodies = bodies_of(m.http)
        if bodies is None or bodies.skip_response is None:
            return None
        http = m.http
        response = http.response if http is not None else None
        fixed = response.content_type if response is not None else None
        return {fixed or _OCTETS: {"schema": binary()}}


def multipart_schema(schema: dict[str, Any], attrs: dict[str, AttributeExpr]) -> dict[str, Any]:
    """`schema` (an object's) with every `File` part described as binary."""
    props = schema.get("properties")
    if not isinstance(props, dict):
        return schema
    out = dict(schema)
    out["properties"] = dict(props)
    for attr in attrs.values():
        if not is_file(attr) or attr.wire_name not in props:
            continue
        described = {k: v for k, v in props[attr.wire_name].items() if k == "description"}
        if isinstance(attr.type, ArrayExpr):
            out["properties"][attr.wire_name] = {"type": "array", "items": binary(), **described}
        else:
            out["properties"][attr.wire_name] = {**binary(), **described}
    return out
