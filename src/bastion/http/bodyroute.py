"""What one method's route does with bodies beyond a JSON request and a JSON response.

Compiled once per method by the App (`route_bodies`): the `Negotiator` choosing among the
codecs its result may be written with, the limit of a raw request body, how a streamed
response starts, and the method's own deadlines (`BodyLimits`). A method with none of
these gets None, and its route the plain handler.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

import msgspec

from bastion.dsl._bodies import bodies_of
from bastion.dsl.expr import MethodExpr
from bastion.http.codecs import JSON, Codec, Codecs
from bastion.http.encoder import Layout, Negotiator, ResultEncoder, body_codecs
from bastion.http.errorenc import ErrorEncoder
from bastion.operations import Operation, ResultMismatch

__all__ = ["RouteBodies", "StreamedResponse", "route_bodies"]

_OCTETS = b"application/octet-stream"


@dataclass(frozen=True, slots=True)
class RouteBodies:
    """One route's bodies: negotiation, a raw request, a streamed response, deadlines."""

    negotiator: Negotiator | None = None
    raw_request: int | None = None  # the body limit of a raw request body
    stream_response: StreamedResponse | None = None
    timeouts: tuple[float | None, float | None] | None = None  # (read, write)
    multipart: bool = False

    @property
    def special(self) -> bool:
        """Whether the route needs the body handler (anything but negotiation)."""
        return (self.raw_request is not None or self.stream_response is not None
                or self.timeouts is not None or self.multipart)


class StreamedResponse:
    """How a `SkipResponseBodyEncodeDecode()` method's answer starts: status and headers.

    The method returns the body (an async iterable of bytes), or `(result, body)` when
    its design has a result, whose attributes the Response maps to headers; one mapped
    to `Content-Length` frames the body, which is chunked otherwise.
    """

    __slots__ = ("_content_type", "_convert", "_has_result", "_layout", "_length", "name",
                 "status")

    def __init__(self, operation: Operation, codec_type: str | None) -> None:
        method = operation.expr
        self.name = method.qualified
        http = method.http
        response = http.response if http is not None else None
        self.status = response.status if response is not None else 200
        self._has_result = method.result is not None
        self._convert = operation.convert_result
        self._layout = Layout(response, method.result, self.status, lambda v: b"")
        headers = response.headers if response is not None else {}
        self._length: tuple[str, str] | None = None
        obj = method.result.object if method.result is not None else None
        for attr, header in headers.items():
            if header.lower() == "content-length" and obj is not None:
                a = obj.attributes[attr]
                self._length = (a.field_name, a.wire_name)
        sets_type = any(h.lower() == "content-type" for h in headers.values())
        self._content_type = None if sets_type else (
            codec_type.encode("latin-1") if codec_type else _OCTETS)

    def start(self, answer: Any, scope: Any) -> tuple[int, list[tuple[bytes, bytes]],
                                                      AsyncIterable[bytes]]:
        """The status, headers and body stream of what the method returned."""
        result = None
        stream = answer
        if self._has_result:
            if not isinstance(answer, tuple) or len(answer) != 2:
                raise ResultMismatch(f"{self.name} streams its response body: return "
                                     "(result, stream)")
            result, stream = answer
        if not hasattr(stream, "__aiter__"):
            raise ResultMismatch(f"{self.name} streams its response body: return an async "
                                 f"iterable of bytes, not {type(stream).__name__}")
        headers: list[tuple[bytes, bytes]] = []
        if self._has_result:
            value = self._convert(result)
            _, headers, _ = self._layout.write(value)
            if self._length is not None:
                field, wire = self._length
                length = value.get(wire) if type(value) is dict else getattr(value, field, None)
                if length is not None:
                    headers.append((b"content-length", b"%d" % int(length)))
        if self._content_type is not None:
            headers.insert(0, (b"content-type", self._content_type))
        return self.status, headers, stream


def route_bodies(operation: Operation, codecs: Codecs, max_body_bytes: int,
                 encoder: msgspec.json.Encoder) -> tuple[ResultEncoder, ErrorEncoder,
                                                         RouteBodies | None]:
    """The encoders of one method and what its route does with bodies (None: nothing)."""
    method: MethodExpr = operation.expr
    bodies = bodies_of(method.http)
    offered = body_codecs(method, codecs)
    negotiator = None
    if len(offered) > 1:
        by_codec: dict[str, tuple[Any, ErrorEncoder, Codec]] = {}
        for codec in offered:
            errors_in = codec if codec.structured else JSON
            by_codec[codec.media_type] = (ResultEncoder(operation, encoder, codec).encode,
                                          ErrorEncoder(operation, encoder, errors_in), errors_in)
        negotiator = Negotiator(offered, by_codec)
        _, default_errors, _ = by_codec[offered[0].media_type]
        result_encoder = ResultEncoder(operation, encoder, offered[0])
    else:
        only = offered[0] if offered else JSON
        result_encoder = ResultEncoder(operation, encoder, only)
        default_errors = ErrorEncoder(operation, encoder, only if only.structured else JSON)
    if bodies is None:
        route = RouteBodies(negotiator=negotiator) if negotiator is not None else None
        return result_encoder, default_errors, route
    limit = bodies.max_body_bytes or max_body_bytes
    http = method.http
    response = http.response if http is not None else None
    streamed = None
    if bodies.skip_response is not None:
        negotiator = None  # the method writes the bytes: nothing to negotiate
        streamed = StreamedResponse(operation, response.content_type if response else None)
    timeouts = None
    if bodies.read_timeout is not None or bodies.write_timeout is not None:
        timeouts = (bodies.read_timeout, bodies.write_timeout)
    route = RouteBodies(
        negotiator=negotiator,
        raw_request=limit if bodies.skip_request is not None else None,
        stream_response=streamed,
        timeouts=timeouts,
        multipart=bodies.multipart is not None,
    )
    return result_encoder, default_errors, route
