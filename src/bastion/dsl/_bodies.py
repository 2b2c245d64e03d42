"""The DSL of HTTP bodies: multipart requests, raw streamed bodies, content types, limits.

    with Method("upload"):
        with Payload():
            Attribute("title", String, max_length=80)
            Attribute("file", File)           # an upload: filename, type, size, a reader
            Required("title", "file")
        with HTTP():
            POST("/files")
            MultipartRequest()
            BodyLimits(max_bytes=64 << 20, max_parts=10)

    with Method("download"):
        Payload(String)
        with HTTP():
            GET("/files/{id}")
            SkipResponseBodyEncodeDecode()    # the method returns the body as a stream
            with Response(StatusOK):
                ContentType("application/octet-stream")

`MultipartRequest`, `SkipRequestBodyEncodeDecode`, `SkipResponseBodyEncodeDecode` and
`ContentType` are Goa's; `BodyLimits` and the `File` type are Bastion's: Goa leaves both
to the user's decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.config._units import parse_duration
from bastion.dsl._http import _owner_of
from bastion.dsl._problems import Problems
from bastion.dsl._state import _fail, _need
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    HTTPMethodExpr,
    HTTPResponseExpr,
    Location,
    MethodExpr,
    Primitive,
    ResultTypeExpr,
)

__all__ = [
    "BodiesExpr",
    "BodyLimits",
    "ContentType",
    "File",
    "MultipartRequest",
    "SkipRequestBodyEncodeDecode",
    "SkipResponseBodyEncodeDecode",
    "bodies_of",
    "check_bodies",
    "is_file",
]

#: A file of a multipart request: the method gets a `bastion.Upload` (filename, content
#: type, size, an async reader). Documented in OpenAPI as `format: binary`.
File = Primitive("File", "any", json_format="binary")


@dataclass(eq=False)
class BodiesExpr:
    """How one method's HTTP bodies are read and written, beyond JSON (see the module)."""

    location: Location
    multipart: Location | None = None
    skip_request: Location | None = None
    skip_response: Location | None = None
    limits: Location | None = None
    max_body_bytes: int | None = None
    max_parts: int | None = None
    max_field_bytes: int | None = None
    read_timeout: float | None = None
    write_timeout: float | None = None


def bodies_of(http: HTTPMethodExpr | None) -> BodiesExpr | None:
    """The body settings of a method's HTTP mapping, or None when it has none."""
    if http is None:
        return None
    found = http.bodies
    return found if isinstance(found, BodiesExpr) else None


def is_file(attr: AttributeExpr) -> bool:
    """Whether `attr` is a `File` (or an array of them)."""
    t: DataType | None = attr.type
    if isinstance(t, ArrayExpr):
        t = t.elem.type
    return isinstance(t, Primitive) and t.name == "File"


def _method_bodies(fn: str) -> BodiesExpr:
    where = Location.here()
    http = _need((HTTPMethodExpr,), fn, where, "the HTTP block of a Method")
    if not isinstance(_owner_of(http), MethodExpr):
        raise _fail(where, f"{fn} must be called inside the HTTP block of a Method")
    if not isinstance(http.bodies, BodiesExpr):
        http.bodies = BodiesExpr(location=where)
    return http.bodies


def MultipartRequest() -> None:
    """Decode the method's payload from a `multipart/form-data` request body.

    Each part named after a body attribute is its value: text converted and validated
    as the attribute says, a `File` attribute an upload. A service method
    `decode_<method>_multipart(reader)` takes the parts raw instead (Goa's user decoder).
    """
    bodies = _method_bodies("MultipartRequest")
    bodies.multipart = Location.here()


def SkipRequestBodyEncodeDecode() -> None:
    """Hand the request body to the method as a byte stream (its last argument).

    The payload still comes from the path, the query and the headers; the body is never
    read by Bastion, so an upload of any size costs constant memory.
    """
    bodies = _method_bodies("SkipRequestBodyEncodeDecode")
    bodies.skip_request = Location.here()


def SkipResponseBodyEncodeDecode() -> None:
    """Let the method return the response body as a stream of bytes.

    The method returns an async iterable of bytes, or `(result, stream)` when it has a
    result, whose attributes are all mapped to headers.
    """
    bodies = _method_bodies("SkipResponseBodyEncodeDecode")
    bodies.skip_response = Location.here()


def BodyLimits(
    max_bytes: int | None = None,
    *,
    max_parts: int | None = None,
    max_field_bytes: int | None = None,
    read_timeout: float | str | None = None,
    write_timeout: float | str | None = None,
) -> None:
    """Override the App's body limits for one method (uploads and downloads).

    `max_bytes` replaces MAX_BODY_BYTES; `max_parts` and `max_field_bytes` bound a
    multipart body; `read_timeout` and `write_timeout` (seconds, or "10m") replace
    READ_TIMEOUT and WRITE_TIMEOUT for this method's requests.
    """
    where = Location.here()
    bodies = _method_bodies("BodyLimits")
    if bodies.limits is not None:
        raise _fail(where, f"BodyLimits is set twice (first at {bodies.limits})")
    for name, value in (("max_bytes", max_bytes), ("max_parts", max_parts),
                        ("max_field_bytes", max_field_bytes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise _fail(where, f"BodyLimits({name}={value!r}): give a positive integer")
    read = _seconds("read_timeout", read_timeout, where)
    write = _seconds("write_timeout", write_timeout, where)
    bodies.limits = where
    bodies.max_body_bytes = max_bytes
    bodies.max_parts = max_parts
    bodies.max_field_bytes = max_field_bytes
    bodies.read_timeout = read
    bodies.write_timeout = write


def _seconds(name: str, value: float | str | None, where: Location) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise _fail(where, f"BodyLimits({name}={value!r}): give seconds or a duration "
                    "such as '10m'") from None
    if seconds <= 0:
        raise _fail(where, f"BodyLimits({name}={value!r}): give a positive duration")
    return seconds


def ContentType(media_type: str) -> None:
    """Set the `Content-Type` of a Response: its body is encoded for that media type.

    The App's codec for the type writes it (`text/plain` writes a String result as it
    is); a response with a ContentType ignores the request's `Accept`, as Goa's does.
    """
    where = Location.here()
    response = _need((HTTPResponseExpr,), "ContentType", where, "a Response block")
    kind, sep, sub = media_type.partition("/")
    if not sep or not kind.strip() or not sub.strip() or any(c in media_type for c in "\r\n"):
        raise _fail(where, f"ContentType({media_type!r}) is not a media type such as "
                    "'text/plain'")
    response.content_type = media_type.strip()


# ---------------------------------------------------------------------------- checks


def check_bodies(api: APIExpr, problems: Problems) -> None:
    """Check every method's body settings against its payload, result and transports."""
    for m in api.methods():
        http = m.http
        bodies = bodies_of(http)
        if http is None or bodies is None:
            _files_outside_multipart(m, problems)
            continue
        label = m.qualified
        streams = m.streaming_payload is not None or m.streaming_result
        if bodies.multipart is not None:
            _check_multipart(m, http, bodies.multipart, problems)
            if bodies.skip_request is not None:
                problems.add(bodies.skip_request, f"{label}: SkipRequestBodyEncodeDecode and "
                             "MultipartRequest both say how the body is read; keep one")
        else:
            _files_outside_multipart(m, problems)
        for where, what in ((bodies.skip_request, "SkipRequestBodyEncodeDecode"),
                            (bodies.skip_response, "SkipResponseBodyEncodeDecode")):
            if where is None:
                continue
            if streams:
                problems.add(where, f"{label}: {what} cannot be used with a StreamingPayload "
                             "or StreamingResult")
            if m.grpc is not None:
                problems.add(where, f"{label}: {what} cannot be used by a method with a gRPC "
                             "transport (gRPC has no raw body)")
        if bodies.skip_request is not None:
            unmapped = sorted(_body_attributes(m, http))
            if http.body_set:
                problems.add(bodies.skip_request, f"{label}: SkipRequestBodyEncodeDecode "
                             "sends the body raw: remove Body(...)")
            elif unmapped:
                problems.add(bodies.skip_request, f"{label}: SkipRequestBodyEncodeDecode "
                             "reads no body, so payload attribute(s) "
                             + ", ".join(repr(a) for a in unmapped)
                             + " must be mapped to the path, a Param, a Header or a Cookie")
        if bodies.skip_response is not None:
            _check_skip_response(m, http, bodies.skip_response, problems)


def _body_attributes(m: MethodExpr, http: HTTPMethodExpr) -> set[str]:
    """The payload attributes a request body would carry (none mapped elsewhere)."""
    payload = http.payload or m.payload
    obj = payload.object if payload is not None else None
    if payload is None:
        return set()
    if obj is None:
        return {"<payload>"}
    mapped = {p for r in http.routes for p in r.params}
    mapped |= set(http.params) | set(http.headers) | set(http.cookies) | set(http.authorization)
    if http.map_params:
        mapped.add(http.map_params)
    return {a for a in obj.attributes if a not in mapped}


def _check_multipart(m: MethodExpr, http: HTTPMethodExpr, where: Location,
                     problems: Problems) -> None:
    payload = http.payload or m.payload
    if payload is None:
        problems.add(where, f"{m.qualified}: MultipartRequest needs a payload for the form")
        return
    if payload.object is None:
        return  # Goa's case too: the service's decode_<method>_multipart builds it
    if http.body_set:
        body = payload.object.attributes.get(http.body or "")
        if body is None or body.object is None:
            problems.add(where, f"{m.qualified}: MultipartRequest with Body({http.body!r}) "
                         "needs that attribute to be an object: its attributes are the parts")


def _files_outside_multipart(m: MethodExpr, problems: Problems) -> None:
    payload = (m.http.payload if m.http is not None else None) or m.payload
    obj = payload.object if payload is not None else None
    if obj is None:
        return
    for a in obj.attributes.values():
        if is_file(a):
            problems.add(a.location, f"{m.qualified}: attribute {a.name!r} is a File, which "
                         "only a MultipartRequest() body carries")


def _check_skip_response(m: MethodExpr, http: HTTPMethodExpr, where: Location,
                         problems: Problems) -> None:
    label = m.qualified
    if http.tagged:
        problems.add(where, f"{label}: SkipResponseBodyEncodeDecode allows one result "
                     "Response; remove the tagged ones")
    result = m.result
    if result is None:
        return
    t = result.type
    if isinstance(t, ResultTypeExpr) and len(t.views) > 1:
        problems.add(where, f"{label}: SkipResponseBodyEncodeDecode cannot be used with a "
                     "result type of several views")
    obj = result.object
    response = http.response
    headers = response.headers if response is not None else {}
    cookies = response.cookies if response is not None else {}
    if obj is None:
        problems.add(where, f"{label}: with SkipResponseBodyEncodeDecode the result must be "
                     "an object whose attributes are headers (the body is the stream)")
        return
    loose = sorted(a for a in obj.attributes if a not in headers and a not in cookies)
    if loose:
        problems.add(where, f"{label}: with SkipResponseBodyEncodeDecode the body is the "
                     "stream, so result attribute(s) " + ", ".join(repr(a) for a in loose)
                     + " must be mapped to a Header or a Cookie of the Response")
