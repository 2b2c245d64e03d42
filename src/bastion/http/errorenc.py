"""Design errors on the wire: the status, the `Goa-Error` header, and the body the design says.

For each error a method may raise, compiled once: the status its nearest `Response`
maps it to (Goa's default otherwise: 500 for a fault, 400), and how it is written:

- an error declared without a type (`ErrorResult`) is Bastion's error object, its
  flags taken from the declaration;
- an error with a type of its own (`Error("div_by_zero", DivByZero)`,
  `Error("unauthorized", String)`) is its value, checked against that type;
- the error's Response block may map attributes to headers or cookies, make one the
  body, or send none (`Body(Empty)`); a `Tag` picks among several Responses of it.

Every answer carries `Goa-Error: <name>`, as Goa's servers write it, so Goa's clients
and Bastion's tell a design error from any other.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bastion.dsl.expr import (
    ERROR_RESULT,
    AttributeExpr,
    HTTPResponseExpr,
    Location,
    MethodExpr,
)
from bastion.errors import ServiceError
from bastion.http.codecs import Codec
from bastion.http.encoder import Encoded, Layout
from bastion.http.errors import service_error_body
from bastion.operations import Operation

__all__ = ["ErrorEncoder"]

_GOA_ERROR = b"goa-error"
_CT_JSON = (b"content-type", b"application/json")
_HERE = Location("<bastion>", 0)


class _Error:
    """One design error of a method, compiled."""

    __slots__ = ("fault", "layout", "name", "tagged", "temporary", "timeout", "typed")

    def __init__(self, name: str, typed: bool, flags: tuple[bool, bool, bool], layout: Layout,
                 tagged: list[tuple[str, str, str, Layout]]) -> None:
        self.name = name
        self.typed = typed
        self.temporary, self.timeout, self.fault = flags
        self.layout = layout
        self.tagged = tagged


class ErrorEncoder:
    """Encodes the design errors of one operation (see the module docstring)."""

    def __init__(self, operation: Operation, encoder: msgspec.json.Encoder,
                 codec: Codec | None = None) -> None:
        self._operation = operation
        method = operation.expr
        encode = encoder.encode if codec is None else codec.encode
        # A codec other than JSON (msgpack, CBOR) writes Bastion's error object too.
        self._recode = None if codec is None or codec.media_type == "application/json" else (
            codec.encode)
        ct = _CT_JSON if codec is None else (b"content-type", codec.media_type.encode("latin-1"))
        self._ct = ct
        self._errors: dict[str, _Error] = {}
        for e in method.all_errors():
            status = method.error_status(e.name) or (500 if e.fault else 400)
            responses = _responses(method, e.name)
            value = AttributeExpr(e.name, e.type if e.typed else ERROR_RESULT, _HERE)
            default = next((r for r in responses if r.tag is None), None)
            layout = Layout(default, value, status, encode, ct)
            tagged = [(*_tag(value, r), Layout(r, value, r.status, encode, ct))
                      for r in responses if r.tag is not None]
            self._errors[e.name] = _Error(e.name, e.typed, (e.temporary, e.timeout, e.fault),
                                          layout, tagged)

    def __call__(self, err: ServiceError) -> tuple[str, Encoded] | None:
        """The name and the answer to design error `err`; None when the method does not
        declare it (a bug: the caller answers 500). A typed error whose value does not
        match its type raises `ResultMismatch` (a 500 too).
        """
        name = self._operation.error_name(err)
        spec = self._errors.get(name) if name is not None else None
        if spec is None or name is None:
            return None
        value: Any
        if spec.typed:
            value = self._operation.error_value(name, err)
        elif spec.layout.plain and not spec.tagged:
            body = service_error_body(err, name=name, temporary=spec.temporary,
                                      timeout=spec.timeout, fault=spec.fault)
            if self._recode is not None:
                body = self._recode(msgspec.json.decode(body))
            return name, (spec.layout.status, [self._ct, (_GOA_ERROR, name.encode("latin-1"))],
                          body)
        else:
            value = msgspec.json.decode(service_error_body(
                err, name=name, temporary=spec.temporary, timeout=spec.timeout, fault=spec.fault))
        layout = spec.layout
        for field, wire, wanted, candidate in spec.tagged:
            found = value.get(wire) if type(value) is dict else getattr(value, field, None)
            if found == wanted:
                layout = candidate
                break
        status, headers, body = layout.write(value)
        headers.append((_GOA_ERROR, name.encode("latin-1")))
        return name, (status, headers, body)


def _responses(method: MethodExpr, name: str) -> list[HTTPResponseExpr]:
    # The nearest level that maps the error wins, as for its status.
    for mapping in (method.http, method.service.http, method.service.api.http):
        if mapping is not None:
            found = [em.response for em in mapping.errors
                     if em.name == name and em.response is not None]
            if found:
                return found
    return []


def _tag(value: AttributeExpr, response: HTTPResponseExpr) -> tuple[str, str, str]:
    name, wanted = response.tag or ("", "")
    obj = value.object
    attr = obj.attributes.get(name) if obj is not None else None
    if attr is None:
        return name, name, wanted
    return attr.field_name, attr.wire_name, wanted
