"""Response encoding: a method's result into status, headers and a JSON body.

A result that already is the method's generated Struct is encoded as it is. Anything
else (a dict, a dataclass, an ORM row) is converted to the result type first, so a
result that breaks the design is caught as a server fault instead of reaching a client.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bastion.dsl.expr import MethodExpr, UserTypeExpr
from bastion.schema.compile import TypeCompiler, py_name
from bastion.schema.formats import dec_hook, enc_hook

__all__ = ["ResultEncoder", "ResultMismatch"]

_CT_JSON = (b"content-type", b"application/json")


class ResultMismatch(Exception):
    """The method returned a value that does not match the design's result."""


class ResultEncoder:
    """Encodes one method's results."""

    def __init__(self, method: MethodExpr, compiler: TypeCompiler, encoder: msgspec.json.Encoder):
        self.method = method
        self._encode = encoder.encode
        http = method.http
        response = http.response if http is not None else None
        result = method.result
        self.result_type: Any = None
        if result is not None:
            if isinstance(result.type, UserTypeExpr):
                self.result_type = compiler.struct(result.type)
            elif result.object is not None:
                svc = py_name(method.service.name).title()
                name = f"{svc}{py_name(method.name).title()}Result"
                self.result_type = compiler.object_struct(name, result)
            else:
                self.result_type = compiler.resolve(compiler.annotation(result))
        self._is_struct = isinstance(self.result_type, type) and issubclass(
            self.result_type, msgspec.Struct
        )
        self.status = response.status if response is not None else (200 if result else 204)
        self._headers = (
            [(py_name(a), a, h.lower().encode("latin-1")) for a, h in response.headers.items()]
            if response is not None
            else []
        )
        self._body_attr = py_name(response.body) if response and response.body else None
        self._header_attrs = {a for _, a, _ in self._headers}

    def convert(self, result: Any) -> Any:
        """Return `result` as the result type, or raise `ResultMismatch`."""
        if self.result_type is None:
            return None
        if self._is_struct and type(result) is self.result_type:
            return result
        try:
            # Attribute lookup (dataclasses, ORM rows) costs extra: only when needed.
            return msgspec.convert(
                result, self.result_type, from_attributes=type(result) is not dict,
                dec_hook=dec_hook,
            )
        except msgspec.ValidationError as exc:
            raise ResultMismatch(
                f"{self.method.qualified} returned a result that does not match the design: "
                f"{exc}"
            ) from None

    def __call__(self, result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Return the status, headers and body for `result`."""
        if self.result_type is None:
            return self.status, [], b""
        value = self.convert(result)
        headers = [_CT_JSON]
        if not self._headers:
            return self.status, headers, self._encode(value)
        for field, _, header in self._headers:
            v = getattr(value, field, None)
            if v is not None:
                text = ("true" if v else "false") if isinstance(v, bool) else str(v)
                headers.append((header, text.encode("latin-1")))
        if self._body_attr is not None:
            body = getattr(value, self._body_attr, None)
            return self.status, headers, self._encode(body)
        data = msgspec.to_builtins(value, enc_hook=enc_hook)
        for a in self._header_attrs:
            data.pop(a, None)
        return self.status, headers, self._encode(data)
