"""Request decoding: path, query, headers, cookies and the JSON body into one payload.

Each method gets a decoder compiled at startup. The common cases are one msgspec call:
a body that is the whole payload decodes straight into the payload Struct; parameters
are converted from strings in one `msgspec.convert`. Only when a request is invalid
does the decoder walk it again (`Collector`) to name every bad field.

What the decoder refuses besides invalid values, because two parsers on a request's way
could read it differently: a body that repeats a key within an object, a query
parameter given twice where the design expects one value, and the text `null` taken
for an absent parameter. Reading the body itself (its size limit and its
`Content-Encoding`) is `bastion.http._body`'s.
"""

from __future__ import annotations

import keyword
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from bastion.dsl._bodies import bodies_of, is_file
from bastion.dsl.expr import ArrayExpr, AttributeExpr, MapExpr, Primitive
from bastion.errors import MalformedBody, RequestTimeout
from bastion.http._body import read_body, read_encoded, read_more, too_large, unreadable_body
from bastion.http.codecs import Codec, Codecs, media_type_of
from bastion.http.credentials import basic_credentials, bearer_token
from bastion.http.errors import HTTPError
from bastion.http.multipart import MultipartReader, Part, Upload, boundary_of
from bastion.operations import Operation
from bastion.schema.compile import TypeCompiler, py_name
from bastion.schema.duplicates import DuplicateKeys, duplicate_keys
from bastion.schema.formats import dec_hook, enc_hook
from bastion.schema.validate import Collector, FieldError, strip_location
from bastion.types import Receive, Scope

__all__ = ["Decoder", "read_body"]

_JSON = (b"application/json", b"application/problem+json")
_DUPLICATE = "duplicate key: an object must not repeat a key"
_NO_KEYS: list[str] = []
#: Multipart limits when the design's BodyLimits does not set them.
MAX_PARTS = 1000
MAX_FIELD_BYTES = 1 << 20


class Decoder:
    """Decodes one method's requests into its payload type, validating everything.

    `decode(scope, receive, path_params)` is the function to call per request: the
    JSON decoder, or the multipart one for a `MultipartRequest()` method. A body in
    another media type of `codecs` (msgpack, CBOR, text) is decoded and validated as
    its JSON would be. `impl` is the service: its `decode_<method>_multipart(reader)`,
    when it has one, reads a multipart body itself.
    """

    def __init__(
        self,
        operation: Operation,
        compiler: TypeCompiler,
        collector: Collector,
        *,
        max_body_bytes: int,
        codecs: Codecs | None = None,
        impl: object = None,
    ) -> None:
        method = operation.expr
        self.method = method
        self._collector = collector
        http = method.http
        payload = method.payload
        if payload is None or http is None:
            raise ValueError(f"{method.qualified} has no payload or HTTP mapping")
        bodies = bodies_of(http)
        if bodies is not None and bodies.max_body_bytes is not None:
            max_body_bytes = bodies.max_body_bytes
        self.max_body_bytes = max_body_bytes
        self.decode = self.__call__
        # The payload as HTTP carries it: the HTTP block may refine its attributes.
        refined = http.payload
        if refined is not None:
            payload = refined
        self._payload_attr = payload
        obj = payload.object
        self._creds = operation.info.credentials
        path_params = {p for r in http.routes for p in r.params}
        # Parameter sources: attribute -> (where, wire name), each read from strings.
        self._query = dict(http.params)
        self._query_by_wire = {w: a for a, w in self._query.items()}
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
        # msgspec's lax conversion reads the text `null` as None for an optional value;
        # on the wire it is text like any other, so these must come out set.
        self._wire_fields = [
            (a, obj.attributes[a].field_name) for a in self._param_where
            if a not in http.authorization and obj is not None and a not in obj.required
        ]

        svc = method.service.name
        base = f"{py_name(svc).title()}{py_name(method.name).title()}"
        encode = msgspec.json.Encoder(enc_hook=enc_hook).encode
        self._body_decoder: msgspec.json.Decoder[Any]
        # Set for every kind that reads a body ("none" never looks at it).
        self._duplicates: DuplicateKeys
        # Attribute -> JSON name where they differ (`struct:tag:json`): parameters are
        # read by attribute, and the payload Struct takes JSON names.
        self._renames = {
            a.name: a.wire_name for a in (obj.attributes.values() if obj is not None else ())
            if a.wire_name != a.name
        }
        # `MapParams()`: the whole payload is the query string; `MapParams("attr")`: that
        # attribute is every query parameter not mapped to another one.
        self._map_params = http.map_params
        self._extras = http.map_params is not None or bool(self._renames)
        self._map_arrays = False
        if http.map_params is not None:
            target = payload if http.map_params == "" else (
                obj.attributes[http.map_params] if obj is not None else payload)
            if isinstance(target.type, MapExpr):
                self._map_arrays = isinstance(target.type.elem.type, ArrayExpr)
        if refined is not None:
            self.payload_type = compiler.object_struct(base + "HTTPPayload", payload,
                                                       optional=self._creds)
        else:
            self.payload_type = operation.payload_type
        self._body_attrs: frozenset[str] = frozenset()
        if http.map_params == "":
            self.kind = "query_map"
            self._needs_headers = bool(self._headers or self._cookies or self._authz)
            self._decoders = {}
            return
        if obj is None:
            # A non-object payload is the body, e.g. Payload(ArrayOf(Order)).
            self.kind = "value"
            self._body_decoder = msgspec.json.Decoder(self.payload_type, dec_hook=dec_hook)
            self._needs_headers = False
            self._duplicates = DuplicateKeys(None, encode, "body")
            self._decoders = self._body_codecs(codecs, obj)
            if bodies is not None and bodies.multipart is not None:
                self._form_setup(operation, impl, bodies)
            return
        mapped = set(self._param_where)
        if http.map_params:
            mapped.add(http.map_params)
        if http.body is not None:
            self.kind = "attr"
            self._body_attr: AttributeExpr = obj.attributes[http.body]
            self._body_name = http.body
            body_type = compiler.resolve(compiler.annotation(self._body_attr))
            self._body_decoder = msgspec.json.Decoder(body_type, dec_hook=dec_hook)
            body_struct = body_type if _is_struct(body_type) else None
            self._body_attrs = frozenset({http.body})
            self._wrap = _keyword_call(self.payload_type, self._body_attr.field_name)
            # The client's JSON is the attribute's value: name its fields as written
            # (`amount`), not by the payload attribute that holds them (`order.amount`).
            self._body_root = "" if self._body_attr.object is not None else "body"
            self._duplicates = DuplicateKeys(body_struct, encode, self._body_root)
            # With no other required attribute, a request without parameters needs no
            # second validation pass: the Struct is built around the decoded body.
            self._direct = not http.map_params and all(
                a == http.body or a not in obj.required or a in self._creds
                for a in obj.attributes
            )
        else:
            self._body_attrs = frozenset(a for a in obj.attributes if a not in mapped)
            if not self._body_attrs:
                self.kind = "none"
            elif not mapped and refined is None:
                self.kind = "whole"
                self._body_decoder = msgspec.json.Decoder(self.payload_type, dec_hook=dec_hook)
                self._duplicates = DuplicateKeys(self.payload_type, encode, "")
            else:
                self.kind = "rest"
                body_struct = compiler.object_struct(
                    base + "Body", payload, only=self._body_attrs, optional=self._creds
                )
                self._body_decoder = msgspec.json.Decoder(body_struct, dec_hook=dec_hook)
                self._body_fields = [
                    (attr.field_name, a) for a, attr in obj.attributes.items()
                    if a in self._body_attrs
                ]
                self._duplicates = DuplicateKeys(body_struct, encode, "")
        self._needs_headers = bool(self._headers or self._cookies or self._authz)
        self._decoders = self._body_codecs(codecs, obj)
        if bodies is not None and bodies.multipart is not None:
            self._form_setup(operation, impl, bodies)

    def _body_codecs(self, codecs: Codecs | None, obj: Any) -> dict[str, Codec]:
        """Media type -> codec, for the request bodies of other types than JSON."""
        if codecs is None:
            return {}
        if self.kind == "value":
            body_type = self._payload_attr.type
        elif self.kind == "attr":
            body_type = self._body_attr.type
        else:
            body_type = None
        text = isinstance(body_type, Primitive) and body_type.kind in ("string", "bytes")
        return {name: c for c in codecs.offered(text=text) if c.media_type != "application/json"
                for name in c.names}

    def _transcode(self, ctype: bytes, body: bytes) -> tuple[bytes, list[str]]:
        """A body of another media type, as the JSON the compiled decoder reads, and the
        path of each key it repeats (the decoder kept one value of each)."""
        media = media_type_of(ctype)
        codec = self._decoders.get(media)
        if codec is None:
            accepted = ", ".join(["application/json", *sorted(
                {c.media_type for c in self._decoders.values()})])
            raise HTTPError(
                415, "unsupported_media_type",
                f"request body must be one of {accepted}, not {ctype.decode('latin-1')!r}",
            )
        try:
            value = codec.decode(body)
        except Exception:  # each codec fails its own way: all of them mean a bad body
            raise HTTPError(400, "bad_request",
                            f"request body is not valid {codec.media_type}") from None
        # The codec's decoder kept one value of a repeated key: its JSON form no longer
        # shows the repeat, so it is looked for here.
        try:
            repeated = (codec.repeated_keys(body, value, self._duplicates.root)
                        if codec.repeated_keys is not None else _NO_KEYS)
        except Exception:  # what the decoder took and the walk cannot read: not well formed
            raise HTTPError(400, "bad_request",
                            f"request body is not valid {codec.media_type}") from None
        try:
            return msgspec.json.encode(value, enc_hook=enc_hook), repeated
        except (TypeError, msgspec.EncodeError):
            raise HTTPError(400, "bad_request", f"request body ({codec.media_type}) holds "
                            "values no JSON type carries") from None

    async def _with_repeats(
        self, scope: Scope, body: bytes, path_params: dict[str, str], repeated: list[str]
    ) -> HTTPError:
        """The 400 for a body that repeats keys, naming them beside every other bad field.

        The request is decoded once more with its JSON form (`body`) to collect the other
        errors, as a JSON body's repeats are named beside them.
        """
        headers = [(n, v) for n, v in scope["headers"]
                   if n not in (b"content-type", b"content-length", b"content-encoding")]
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii"))]

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        errors = [FieldError(p, _DUPLICATE, "body") for p in repeated]
        try:
            await self({**scope, "headers": headers}, receive, path_params)
        except HTTPError as exc:
            if exc.status == 413:
                # The size of the JSON form, which may be larger than the body: the limit
                # held on the body as received, so the repeats are the answer.
                return _invalid_fields(errors)
            if exc.status != 400 or not exc.errors:
                raise  # not about fields (a credential): that answer stands
            errors = exc.errors + [e for e in errors if e not in exc.errors]
        return _invalid_fields(errors)

    async def __call__(self, scope: Scope, receive: Receive, path_params: dict[str, str]) -> Any:
        """Decode and validate the request into the payload, or raise `HTTPError`."""
        kind = self.kind
        body = b""
        if kind != "none":
            # Reading is inlined: one request is one coroutine here, not three.
            length: bytes | None = None
            ctype: bytes | None = None
            coding: bytes | None = None
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value
                elif name == b"content-type":
                    ctype = value
                elif name == b"content-encoding":
                    coding = value
            limit = self.max_body_bytes
            if length is not None:
                try:
                    size = int(length)
                except ValueError:
                    raise HTTPError(400, "bad_request", "invalid Content-Length") from None
                if size > limit:
                    raise too_large(limit)
            try:
                if coding is None:
                    message = await receive()
                    body = message.get("body", b"")
                    if message.get("more_body", False):
                        body = await read_more(receive, body, limit)
                    elif len(body) > limit:
                        raise too_large(limit)
                else:
                    body = await read_encoded(receive, limit, coding)
            except (RequestTimeout, MalformedBody) as exc:
                # What Bastion's server raises from `receive` (see bastion.server._http1).
                raise unreadable_body(exc) from None
            if body and ctype is not None and ctype != b"application/json" and (
                not _is_json(ctype)
            ):
                body, repeated = self._transcode(ctype, body)
                if repeated:
                    raise await self._with_repeats(scope, body, path_params, repeated)
        params: dict[str, Any] = dict(path_params) if path_params else {}
        if self._query:
            self._read_query(scope, params)
        if self._needs_headers:
            self._read_headers(scope, params)
        if not body and kind in _READS_BODY:
            raise self._missing(params)
        if self._extras:  # MapParams or JSON names: precomputed, false for most methods
            if self._map_params is not None:
                mapped = self._query_map(scope)
                if kind == "query_map":
                    return self._convert_map(mapped)
                if mapped:
                    params[self._map_params] = mapped
            if self._renames:
                params = {self._renames.get(k, k): v for k, v in params.items()}
        try:
            if kind == "attr":
                if body:
                    value = self._body_decoder.decode(body)
                    found = self._duplicates.find(body, value)
                    if found:
                        raise _duplicated(found)
                    if not params and self._direct:
                        return self._wrap(value)
                    params[self._body_name] = value
            elif kind == "whole":  # no parameters at all: one C call
                if not body:
                    return self._body_decoder.decode(b"{}")
                value = self._body_decoder.decode(body)
                found = self._duplicates.find(body, value)
                if found:
                    raise _duplicated(found)
                return value
            elif kind == "value":
                if not body:
                    return self._body_decoder.decode(b"null")
                value = self._body_decoder.decode(body)
                found = self._duplicates.find(body, value)
                if found:
                    raise _duplicated(found)
                return value
            elif kind == "rest":
                decoded = self._body_decoder.decode(body or b"{}")
                found = self._duplicates.find(body, decoded) if body else _NO_KEYS
                if found:
                    raise _duplicated(found)
                for field, name in self._body_fields:
                    value = getattr(decoded, field)
                    if value is not None:
                        params[self._renames.get(name, name)] = value
            payload = msgspec.convert(params, self.payload_type, strict=False, dec_hook=dec_hook)
            for attr, field in self._wire_fields:
                if self._renames.get(attr, attr) in params and getattr(payload, field) is None:
                    raise msgspec.ValidationError(f"`null` is no value of {attr!r}")
            return payload
        except msgspec.ValidationError as exc:
            if self._renames:
                back = {w: a for a, w in self._renames.items()}
                params = {back.get(k, k): v for k, v in params.items()}
            try:
                error = self._invalid(params, body, exc)
            except RecursionError:
                error = _too_deep()
            raise error from None
        except RecursionError:
            raise _too_deep() from None
        except msgspec.DecodeError as exc:
            if not body.strip():
                raise self._missing(params) from None  # only whitespace: no body either
            raise HTTPError(
                400, "bad_request", f"request body is not valid JSON: {exc}"
            ) from None

    # -- multipart ----------------------------------------------------------------

    def _form_setup(self, operation: Operation, impl: object, bodies: Any) -> None:
        """Compile the parts of a `MultipartRequest()` body: which attribute each one is."""
        self._max_parts = bodies.max_parts or MAX_PARTS
        self._max_field = bodies.max_field_bytes or MAX_FIELD_BYTES
        user = getattr(impl, f"decode_{py_name(self.method.name)}_multipart", None)
        self._user_decoder = user if callable(user) else None
        body_kind = self.kind
        self.kind = "multipart"
        self.decode = self._multipart
        obj = self._payload_attr.object
        self._form_attr: AttributeExpr | None = None
        self._parts: dict[str, tuple[str, AttributeExpr, str]] = {}
        self._form_required: list[str] = []
        if obj is None:
            # Payload(ArrayOf(Bottle)): no part names an attribute, as in Goa, where the
            # user's decoder fills it; so here.
            if self._user_decoder is None:
                from bastion.endpoint import ImplementationError

                raise ImplementationError(
                    f"{self.method.qualified} reads a multipart body into a payload that is "
                    f"not an object: implement decode_{py_name(self.method.name)}_multipart"
                    "(reader) on the service to build it from the parts")
            return
        # Body("form"): the parts are that attribute's; else every unmapped attribute.
        form = obj
        if body_kind == "attr" and self._body_attr.object is not None:
            self._form_attr = self._body_attr
            form = self._body_attr.object
            names = list(form.attributes)
        else:
            names = sorted(self._body_attrs)
        self._form_required = [a for a in form.required if a in names and a not in self._creds]
        # part name -> (attribute name, attribute, kind: file, files, bytes, values, value)
        for name in names:
            a = form.attributes[name]
            if is_file(a):
                kind = "files" if isinstance(a.type, ArrayExpr) else "file"
            elif isinstance(a.type, ArrayExpr):
                kind = "values"
            elif isinstance(a.type, Primitive) and a.type.kind == "bytes":
                kind = "bytes"
            else:
                kind = "value"
            self._parts[a.wire_name] = (name, a, kind)

    async def _multipart(self, scope: Scope, receive: Receive,
                         path_params: dict[str, str]) -> Any:
        """Decode a multipart body into the payload; uploads are closed with the request."""
        ctype: bytes | None = None
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value
            elif name == b"content-length":
                length = value
            elif name == b"content-encoding" and value.strip().lower() != b"identity":
                raise HTTPError(415, "unsupported_media_type", "a multipart body is read as "
                                "it is sent: send it without a Content-Encoding")
        if ctype is None:
            raise self._missing(self._parameters(scope, path_params))
        boundary = boundary_of(ctype)
        limit = self.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large(limit)
        reader = MultipartReader(receive, boundary, limit=limit, max_parts=self._max_parts,
                                 max_field_bytes=self._max_field)
        uploads: list[Upload] = scope.setdefault("bastion.uploads", [])
        params = self._parameters(scope, path_params)
        errors: list[FieldError] = []
        if self._user_decoder is not None:
            form = await self._user_decoder(reader)
            async for _ in reader:
                pass  # what the user's decoder left unread, so the framing is checked
            if self._payload_attr.object is None:
                return self._whole_form(form)
            values = dict(form) if form is not None else {}
        else:
            values = await self._read_parts(reader, uploads, errors)
        if self._form_attr is not None:
            params[self._form_attr.name] = values
        else:
            params.update(values)
        if self._renames:
            params = {self._renames.get(k, k): v for k, v in params.items()}
        if not errors:
            try:
                return msgspec.convert(params, self.payload_type, strict=False,
                                       dec_hook=dec_hook)
            except msgspec.ValidationError:
                pass
        self._param_errors(params, errors)
        self._form_errors(values, errors)
        if not errors:  # pragma: no cover - the collector names what msgspec refuses
            errors.append(FieldError("", "invalid multipart body", "body"))
        raise _invalid_fields(errors)

    def _whole_form(self, value: Any) -> Any:
        """A payload that is not an object, as the service's decoder made it, validated."""
        try:
            return msgspec.convert(value, self.payload_type, strict=False, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            errors: list[FieldError] = []
            self._collector.value(value, self._payload_attr, "body", "body", errors,
                                  strict=False)
            if not errors:
                errors.append(FieldError("body", strip_location(str(exc)), "body"))
            raise _invalid_fields(errors) from None

    async def _read_parts(self, reader: MultipartReader, uploads: list[Upload],
                          errors: list[FieldError]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        repeated: dict[str, int] = {}
        async for part in reader:
            found = self._parts.get(part.name)
            if found is None:
                continue  # a part the design does not name: skipped, as unknown JSON keys
            name, _, kind = found
            value: Any
            if kind in ("file", "files"):
                value = Upload(part)
                uploads.append(value)  # closed with the request, even if the body breaks
                await value.spool(part)
            elif kind == "bytes":
                value = await part.read()
            else:
                value = await _field_value(part, errors)
            if kind in ("files", "values"):
                values.setdefault(name, []).append(value)
            elif name in values:
                repeated[name] = repeated.get(name, 1) + 1
            else:
                values[name] = value
        for name, times in repeated.items():
            errors.append(FieldError(name, f"repeated {times} times; expected one value", "body"))
        return values

    def _form_errors(self, values: dict[str, Any], errors: list[FieldError]) -> None:
        named = {e.field for e in errors}
        for name in self._form_required:
            if name not in values and name not in named:
                errors.append(FieldError(name, "missing required field", "body"))
        for name, attr, _ in self._parts.values():
            if name in values and name not in named:
                self._collector.value(values[name], attr, name, "body", errors, strict=False)

    def _parameters(self, scope: Scope, path_params: dict[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = dict(path_params) if path_params else {}
        if self._query:
            self._read_query(scope, params)
        if self._needs_headers:
            self._read_headers(scope, params)
        return params

    # -- reading ------------------------------------------------------------------

    def _query_map(self, scope: Scope) -> dict[str, Any]:
        """The query string as a map: keys not mapped to other parameters, as sent.

        For the whole payload, Goa's generated server reads `query[<key>]=v` keys and
        its client sends `<key>=v`: both are read. A key given twice is a list for an
        array of values, else refused when the map is converted.
        """
        qs = scope.get("query_string", b"")
        out: dict[str, Any] = {}
        if not qs:
            return out
        whole = self._map_params == ""
        skip = self._query_by_wire
        arrays = self._map_arrays
        for raw, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
            key = raw
            if whole and raw.startswith("query[") and raw.endswith("]"):
                key = raw[6:-1]
            elif raw in skip:
                continue
            if arrays:
                out.setdefault(key, []).append(value)
            elif key in out:
                prior = out[key]
                out[key] = [*prior, value] if isinstance(prior, _Repeated) else _Repeated(
                    [prior, value])
            else:
                out[key] = value
        return out

    def _convert_map(self, mapped: dict[str, Any]) -> Any:
        """The whole-payload map from the query string, or the 400 naming each bad key."""
        repeated = [k for k, v in mapped.items() if isinstance(v, _Repeated)]
        if repeated:
            raise _invalid_fields([FieldError(k, f"repeated {len(mapped[k])} times; expected "
                                              "one value", "query") for k in repeated])
        if not mapped:
            raise _invalid_fields([FieldError("query", "missing required field", "query")])
        try:
            return msgspec.convert(mapped, self.payload_type, strict=False, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            errors: list[FieldError] = []
            self._collector.value(mapped, self._payload_attr, "query", "query", errors,
                                  strict=False)
            if not errors:
                errors.append(FieldError("query", strip_location(str(exc)), "query"))
            raise _invalid_fields(errors) from None

    def _read_query(self, scope: Scope, params: dict[str, Any]) -> None:
        qs = scope.get("query_string", b"")
        if not qs:
            return
        by_wire = self._query_by_wire
        repeated: set[str] = set()
        for key, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
            attr = by_wire.get(key)
            if attr is None:
                continue
            if attr in self._query_arrays:
                params.setdefault(attr, []).append(value)
            elif attr in params:
                # `?type=a&type=b` for one value: parsers disagree on which one wins, so
                # neither does; the list fails validation and is named as repeated.
                if attr not in repeated:
                    repeated.add(attr)
                    params[attr] = [params[attr]]
                params[attr].append(value)
            else:
                params[attr] = value

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

    def _param_errors(self, params: dict[str, Any], errors: list[FieldError]) -> None:
        obj = self._payload_attr.object
        if obj is None:
            return
        collect = self._collector
        for attr, (where, wire) in self._param_where.items():
            a = obj.attributes[attr]
            if attr not in params:
                if attr in obj.required and attr not in self._creds:
                    errors.append(FieldError(wire, "missing required field", where))
            elif (where == "query" and attr not in self._query_arrays
                  and isinstance(params[attr], list)):
                errors.append(FieldError(
                    wire, f"repeated {len(params[attr])} times; expected one value", where
                ))
            else:
                collect.value(params[attr], a, wire, where, errors, strict=False)

    def _missing(self, params: dict[str, Any]) -> HTTPError:
        """Goa's `missing_payload` 400, naming the body and every other bad field too."""
        errors = [FieldError("body", _MISSING, "body")]
        self._param_errors(params, errors)
        message = _MISSING if len(errors) == 1 else (
            f"{_MISSING}; {len(errors)} invalid fields: "
            + ", ".join(e.field or e.where for e in errors))
        return HTTPError(400, "missing_payload", message, errors=errors)

    def _invalid(self, params: dict[str, Any], body: bytes, exc: Exception) -> HTTPError:
        errors: list[FieldError] = []
        self._param_errors(params, errors)
        obj = self._payload_attr.object
        collect = self._collector
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
                collect.value(raw, self._body_attr, self._body_root, "body", errors)
            elif obj is not None and self._body_name in obj.required:
                errors.append(FieldError("body", "missing required field", "body"))
        elif self.kind in ("whole", "rest"):
            collect.object(
                raw if raw is not None else {}, self._payload_attr, "", "body", errors,
                skip_required=self._creds, only=self._body_attrs,
            )
        if body and self.kind != "none":
            root = self._duplicates.root
            errors.extend(FieldError(p, _DUPLICATE, "body") for p in duplicate_keys(body, root))
        if not errors:
            errors.append(FieldError("", strip_location(str(exc)), "body"))
        return _invalid_fields(errors)


#: The kinds of decoder that read a JSON body (and so refuse a request without one).
_READS_BODY = frozenset({"attr", "whole", "rest", "value"})


_MISSING = "missing required payload"  # Goa's words


class _Repeated(list[Any]):
    """The values of a query key given more than once where one value is expected."""

    __slots__ = ()


async def _field_value(part: Part, errors: list[FieldError]) -> Any:
    """A form field's value: its text, or the JSON it holds when its type says so."""
    data = await part.read()
    if media_type_of(part.content_type) == "application/json" or part.content_type.endswith(
            "+json"):
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            errors.append(FieldError(part.name, "is not valid JSON", "body"))
            return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        errors.append(FieldError(part.name, "is not UTF-8 text", "body"))
        return None


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _keyword_call(cls: Any, field: str) -> Any:
    """Return `lambda value: cls(field=value)`, the keyword spelled in the code.

    A literal keyword costs a third of `cls(**{field: value})`, on the path of every
    request whose payload is its body; dataclasses build their `__init__` the same way.
    `field` is a `py_name`, an identifier by construction: checked all the same.
    """
    if not field.isidentifier() or keyword.iskeyword(field):
        raise ValueError(f"{field!r} is not a Python identifier")
    namespace: dict[str, Any] = {"cls": cls}
    exec(f"def call(value):\n    return cls({field}=value)\n", namespace)
    return namespace["call"]


def _duplicated(paths: list[str]) -> HTTPError:
    """The 400 naming every key a body repeats within one object."""
    return _invalid_fields([FieldError(path, _DUPLICATE, "body") for path in paths])


def _invalid_fields(errors: list[FieldError]) -> HTTPError:
    names = ", ".join(e.field or e.where for e in errors)
    count = f"{len(errors)} invalid field{'s' if len(errors) > 1 else ''}"
    return HTTPError(400, "bad_request", f"{count}: {names}", errors=errors)


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


def _is_json(ctype: bytes) -> bool:
    if ctype == b"application/json":
        return True
    media = ctype.split(b";", 1)[0].strip().lower()
    return media in _JSON or media.endswith(b"+json")

