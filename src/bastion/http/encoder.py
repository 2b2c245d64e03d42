"""Response encoding: a method's result into status, headers and a JSON body.

A result that already is the method's generated Struct is encoded as it is. Anything
else (a dict, a dataclass, an ORM row) is converted to the result type first, so a
result that breaks the design is caught as a server fault instead of reaching a client.

What goes on the wire follows the design's `Response`: attributes mapped with `Header`
become headers, `Body("attr")` makes one attribute the body, and the rest of the result
is the body otherwise. A 204 or 304 never has a body (nor a `Content-Length`), and a
result whose every attribute is a header has none either. Framing is the server's:
an attribute mapped to `Content-Length` or `Transfer-Encoding` is not written (the real
length of the body is), and one mapped to `Content-Type` replaces `application/json`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bastion.operations import Operation, ResultMismatch
from bastion.schema.compile import py_name
from bastion.schema.formats import enc_hook

__all__ = ["ResultEncoder", "ResultMismatch"]

_CT_JSON = (b"content-type", b"application/json")
#: Headers that frame the message: computed from the body, never taken from a result.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
_NO_BODY = frozenset({204, 304})


class ResultEncoder:
    """Encodes one operation's results: checked by the operation, laid out by the design."""

    def __init__(self, operation: Operation, encoder: msgspec.json.Encoder):
        method = operation.expr
        self.method = method
        self._encode = encoder.encode
        http = method.http
        response = http.response if http is not None else None
        result = method.result
        self.result_type: Any = operation.result_type
        self._struct: Any = operation.result_struct
        self._coerce = operation.coerce_result
        self.convert = operation.convert_result
        self.status = response.status if response is not None else (200 if result else 204)
        mapped = response.headers if response is not None else {}
        # Every mapped attribute leaves the body; framing headers are not written at all.
        self._header_attrs = set(mapped)
        self._headers = [
            (py_name(a), h.lower().encode("latin-1")) for a, h in mapped.items()
            if h.lower().encode("latin-1") not in _FRAMING
        ]
        self._sets_type = any(h == b"content-type" for _, h in self._headers)
        self._body_attr = py_name(response.body) if response and response.body else None
        obj = result.object if result is not None else None
        headers_only = obj is not None and bool(mapped) and all(
            a in mapped for a in obj.attributes
        )
        # No body: a status that has none, or a result that travels in headers only.
        self._bodyless = self.status in _NO_BODY or (self._body_attr is None and headers_only)
        self._plain = not mapped and self._body_attr is None and not self._bodyless

    def __call__(self, result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Return the status, headers and body for `result`."""
        if self.result_type is None:
            return self.status, [], b""
        # `convert`, inlined: a result that is the Struct already is used as it is.
        value = result if type(result) is self._struct else self._coerce(result)
        if self._plain:
            return self.status, [_CT_JSON], self._encode(value)
        headers = []
        for field, header in self._headers:
            v = getattr(value, field, None)
            if v is not None:
                text = ("true" if v else "false") if isinstance(v, bool) else str(v)
                headers.append((header, text.encode("latin-1")))
        if self._bodyless:
            return self.status, headers, b""
        if not self._sets_type or all(h != b"content-type" for h, _ in headers):
            headers.insert(0, _CT_JSON)
        if self._body_attr is not None:
            return self.status, headers, self._encode(getattr(value, self._body_attr, None))
        data = msgspec.to_builtins(value, enc_hook=enc_hook)
        for a in self._header_attrs:
            data.pop(a, None)
        return self.status, headers, self._encode(data)
