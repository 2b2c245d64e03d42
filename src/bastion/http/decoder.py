"""Request decoding: path, query, headers, cookies and the JSON body into one payload.

Each method gets a decoder compiled at startup. The common cases are one msgspec call:
a body that is the whole payload decodes straight into the payload Struct; parameters
are converted from strings in one `msgspec.convert`. Only when a request is invalid
does the decoder walk it again (`Collector`) to name every bad field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec

from bastion.dsl.expr import ArrayExpr, AttributeExpr, MethodExpr, UserTypeExpr
from bastion.endpoint import credential_names
from bastion.errors import MalformedBody, RequestTimeout
from bastion.http.credentials import basic_credentials, bearer_token
from bastion.http.errors import HTTPError
from bastion.schema.compile import TypeCompiler, py_name
from bastion.schema.formats import dec_hook
from bastion.schema.validate import Collector, FieldError, strip_location
from bastion.types import Receive, Scope

__all__ = ["Decoder", "read_body"]

_JSON = (b"application/json", b"application/problem+json")


class Decoder:
    """Decodes one method's requests into its payload type, validating everything."""

    def __init__(
        self,
        method: MethodExpr,
        compiler: TypeCompiler,
        collector: Collector,
        *,
        max_body_bytes: int,
    ) -> None:
        self.method = method
        self.max_body_bytes = max_body_bytes
        self._collector = collector
        http = method.http
        payload = method.payload
        if payload is None or http is None:
            raise ValueError(f"{method.qualified} has no payload or HTTP mapping")
        self._payload_attr = payload
        obj = payload.object
        self._creds = credential_names(payload)
        path_params = {p for r in http.routes for p in r.params}
        # Parameter sources: attribute -> (where, wire name), each read from strings.
        self._query = dict(http.params)
        self._query_arrays = {
            a for a in http.params if obj and isinstance(obj.attributes[a].type, ArrayExpr)
        }
        self._headers = {wire.lower().encode("latin-1"): a for a, wire in http.headers.items()}
        self._cookies = dict(http.cookies)
        self._header_arrays = {
            a for a in http.headers if obj and isinstance(obj.attributes[a].type, ArrayExpr)
        }
        self._authz = dict(http.authorization)
        self._param_where: dict[str, tuple[str, str]] = {}
        for a in path_params:
            self._param_where[a] = ("path", a)
        for a, w in http.params.items():
            self._param_where[a] = ("query", w)
        for a, w in http.headers.items():
            self._param_where[a] = ("header", w)
        for a, w in http.cookies.items():
            self._param_where[a] = ("cookie", w)
        for a in http.authorization:
            self._param_where[a] = ("header", "Authorization")

        svc = method.service.name
        base = f"{py_name(svc).title()}{py_name(method.name).title()}"
        if obj is None:
            # A non-object payload is the body, e.g. Payload(ArrayOf(Order)).
            self.kind = "value"
            self.payload_type: Any = compiler.resolve(compiler.annotation(payload))
            self._body_decoder = msgspec.json.Decoder(self.payload_type, dec_hook=dec_hook)
            self._body_attrs: frozenset[str] = frozenset()
            self._needs_headers = False
            return
        if isinstance(payload.type, UserTypeExpr) and not self._creds:
            self.payload_type = compiler.struct(payload.type)
        else:
            self.payload_type = compiler.object_struct(
                base + "Payload", payload, optional=self._creds
            )
        mapped = set(self._param_where)
        if http.body is not None:
            self.kind = "attr"
            self._body_attr: AttributeExpr = obj.attributes[http.body]
            self._body_name = http.body
            body_type = compiler.resolve(compiler.annotation(self._body_attr))
            self._body_decoder = msgspec.json.Decoder(body_type, dec_hook=dec_hook)
            self._body_attrs = frozenset({http.body})
            self._body_field = py_name(http.body)
            # With no other required attribute, a request without parameters needs no
            # second validation pass: the Struct is built around the decoded body.
            self._direct = all(
                a == http.body or a not in obj.required or a in self._creds
                for a in obj.attributes
            )
        else:
            self._body_attrs = frozenset(a for a in obj.attributes if a not in mapped)
            if not self._body_attrs:
                self.kind = "none"
            elif not mapped:
                self.kind = "whole"
                self._body_decoder = msgspec.json.Decoder(self.payload_type, dec_hook=dec_hook)
            else:
                self.kind = "rest"
                body_struct = compiler.object_struct(
                    base + "Body", payload, only=self._body_attrs, optional=self._creds
                )
                self._body_decoder = msgspec.json.Decoder(body_struct, dec_hook=dec_hook)
                self._body_fields = [
                    (py_name(a), a) for a in obj.attributes if a in self._body_attrs
                ]
        self._needs_headers = bool(self._headers or self._cookies or self._authz)

    async def __call__(self, scope: Scope, receive: Receive, path_params: dict[str, str]) -> Any:
        """Decode and validate the request into the payload, or raise `HTTPError`."""
        body = b""
        if self.kind != "none":
            body = await self._read(scope, receive)
        params: dict[str, Any] = dict(path_params) if path_params else {}
        if self._query:
            self._read_query(scope, params)
        if self._needs_headers:
            self._read_headers(scope, params)
        try:
            if self.kind == "whole":  # no parameters at all: one C call
                return self._body_decoder.decode(body or b"{}")
            if self.kind == "value":
                return self._body_decoder.decode(body or b"null")
            if self.kind == "attr":
                if body:
                    value = self._body_decoder.decode(body)
                    if not params and self._direct:
                        return self.payload_type(**{self._body_field: value})
                    params[self._body_name] = value
            elif self.kind == "rest":
                decoded = self._body_decoder.decode(body or b"{}")
                for field, name in self._body_fields:
                    value = getattr(decoded, field)
                    if value is not None:
                        params[name] = value
            return msgspec.convert(params, self.payload_type, strict=False, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            try:
                error = self._invalid(params, body, exc)
            except RecursionError:
                error = _too_deep()
            raise error from None
        except RecursionError:
            raise _too_deep() from None
        except msgspec.DecodeError as exc:
            raise HTTPError(
                400, "bad_request", f"request body is not valid JSON: {exc}"
            ) from None

    # -- reading ------------------------------------------------------------------

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        length: int | None = None
        ctype: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise HTTPError(400, "bad_request", "invalid Content-Length") from None
            elif name == b"content-type":
                ctype = value
        if length is not None and length > self.max_body_bytes:
            raise HTTPError(413, "payload_too_large",
                            f"request body is over the {self.max_body_bytes} byte limit")
        body = await read_body(receive, self.max_body_bytes)
        if body and ctype is not None and not _is_json(ctype):
            raise HTTPError(
                415, "unsupported_media_type",
                f"request body must be application/json, not {ctype.decode('latin-1')!r}",
            )
        return body

    def _read_query(self, scope: Scope, params: dict[str, Any]) -> None:
        qs = scope.get("query_string", b"")
        if not qs:
            return
        wanted = self._query
        by_wire = {w: a for a, w in wanted.items()}
        for key, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
            attr = by_wire.get(key)
            if attr is None:
                continue
            if attr in self._query_arrays:
                params.setdefault(attr, []).append(value)
            else:
                params.setdefault(attr, value)

    def _read_headers(self, scope: Scope, params: dict[str, Any]) -> None:
        authorization = False
        for name, value in scope["headers"]:
            attr = self._headers.get(name)
            if attr is not None:
                if attr in self._header_arrays:
                    # An HTTP list: comma-separated, possibly over several header lines.
                    items = [v.strip() for v in value.decode("latin-1").split(",")]
                    params.setdefault(attr, []).extend(items)
                else:
                    if attr in params and attr in self._creds:
                        raise self._duplicate(attr)
                    params[attr] = value.decode("latin-1")
            elif name == b"authorization" and self._authz:
                if authorization:
                    raise _duplicate_credential("Authorization", "header")
                authorization = True
                self._read_authorization(value.decode("latin-1"), params)
            elif name == b"cookie" and self._cookies:
                self._read_cookies(value.decode("latin-1"), params)

    def _duplicate(self, attr: str) -> HTTPError:
        # Two values for one credential: which one a proxy checked and which one we would
        # is anyone's guess, so neither is taken.
        where, wire = self._param_where[attr]
        return _duplicate_credential(wire, where)

    def _read_authorization(self, value: str, params: dict[str, Any]) -> None:
        token = bearer_token(value)
        pair = basic_credentials(value)  # None: no credentials, the security layer answers 401
        for attr, kind in self._authz.items():
            if kind == "bearer":
                if token is not None:
                    params[attr] = token
            elif pair is not None:
                params[attr] = pair[0] if kind == "basic-username" else pair[1]

    def _read_cookies(self, header: str, params: dict[str, Any]) -> None:
        by_wire = {w: a for a, w in self._cookies.items()}
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            attr = by_wire.get(key)
            if sep and attr is not None:
                if attr in params and attr in self._creds:
                    raise self._duplicate(attr)
                params.setdefault(attr, value.strip().strip('"'))

    # -- errors -------------------------------------------------------------------

    def _invalid(self, params: dict[str, Any], body: bytes, exc: Exception) -> HTTPError:
        errors: list[FieldError] = []
        obj = self._payload_attr.object
        collect = self._collector
        if obj is not None:
            for attr, (where, wire) in self._param_where.items():
                a = obj.attributes[attr]
                if attr in params:
                    collect.value(params[attr], a, wire, where, errors, strict=False)
                elif attr in obj.required and attr not in self._creds:
                    errors.append(FieldError(wire, "missing required field", where))
        raw: Any = None
        if body:
            try:
                raw = msgspec.json.decode(body)
            except msgspec.DecodeError as bad:
                return HTTPError(400, "bad_request", f"request body is not valid JSON: {bad}")
        if self.kind == "value":
            collect.value(raw, self._payload_attr, "body", "body", errors)
        elif self.kind == "attr":
            if raw is not None:
                collect.value(raw, self._body_attr, self._body_name, "body", errors)
            elif obj is not None and self._body_name in obj.required:
                errors.append(FieldError(self._body_name, "missing required field", "body"))
        elif self.kind in ("whole", "rest"):
            collect.object(
                raw if raw is not None else {}, self._payload_attr, "", "body", errors,
                skip_required=self._creds, only=self._body_attrs,
            )
        if not errors:
            errors.append(FieldError("", strip_location(str(exc)), "body"))
        names = ", ".join(e.field or e.where for e in errors)
        count = f"{len(errors)} invalid field{'s' if len(errors) > 1 else ''}"
        return HTTPError(400, "bad_request", f"{count}: {names}", errors=errors)


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read the whole request body, or raise 413 as soon as it passes `limit` bytes.

    A body that does not arrive within the server's READ_TIMEOUT is a 408.
    """
    try:
        return await _read_body(receive, limit)
    except RequestTimeout:
        raise HTTPError(408, "request_timeout",
                        "the request body was not received within READ_TIMEOUT",
                        temporary=True, timeout=True, headers=[(b"connection", b"close")]) from None
    except MalformedBody as exc:
        raise HTTPError(400, "bad_request", str(exc),
                        headers=[(b"connection", b"close")]) from None


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    chunks = [body]
    size = len(body)
    if size > limit:
        raise _too_large(limit)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client_disconnected", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _duplicate_credential(wire: str, where: str) -> HTTPError:
    return HTTPError(
        400,
        "bad_request",
        f"the credential {where} {wire} appears more than once; send it once",
        errors=[FieldError(wire, "appears more than once", where)],
        field=wire,
    )


def _too_deep() -> HTTPError:
    return HTTPError(400, "bad_request", "request body nests too deeply")


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, "payload_too_large", f"request body is over the {limit} byte limit")


def _is_json(ctype: bytes) -> bool:
    if ctype == b"application/json":
        return True
    media = ctype.split(b";", 1)[0].strip().lower()
    return media in _JSON or media.endswith(b"+json")

