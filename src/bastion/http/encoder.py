"""Response encoding: a method's result into status, headers and a JSON body.

A result that already is the method's generated Struct is encoded as it is. Anything
else (a dict, a dataclass, an ORM row) is converted to the result type first, so a
result that breaks the design is caught as a server fault instead of reaching a client
(unless the design says `ValidateResults(False)`: then a plain body is written as the
method returned it).

What goes on the wire follows the design's `Response`: attributes mapped with `Header`
become headers, with `Cookie` cookies (`Set-Cookie`, with the Response's cookie
attributes), `Body("attr")` makes one attribute the body, `Body(Empty)` sends none, and
the rest of the result is the body otherwise. A 204 or 304 never has a body (nor a
`Content-Length`), and a result whose every attribute is a header has none either.
Framing is the server's: an attribute mapped to `Content-Length` or `Transfer-Encoding`
is not written (the real length of the body is), and one mapped to `Content-Type`
replaces `application/json`.

Several result Responses, each with a `Tag`, pick one by the result's tag attribute; a
result type whose view the method picks is rendered in that view, named in `Goa-View`.
Each of these is compiled at startup, and a method that uses none costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from bastion.dsl.expr import AttributeExpr, HTTPResponseExpr, ObjectExpr, Primitive
from bastion.http.codecs import JSON, TEXT, Codec, Codecs, choose
from bastion.http.errors import HTTPError
from bastion.operations import Operation, ResultMismatch
from bastion.schema.formats import enc_hook

__all__ = ["Layout", "Negotiator", "ResultEncoder", "ResultMismatch", "body_codecs",
           "set_cookie"]

_CT_JSON = (b"content-type", b"application/json")
#: Headers that frame the message: computed from the body, never taken from a result.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
_NO_BODY = frozenset({204, 304})
_GOA_VIEW = b"goa-view"

Encoded = tuple[int, list[tuple[bytes, bytes]], bytes]


class Layout:
    """One Response of the design, compiled: status, headers, cookies and body of a value.

    `value` is the attribute whose values it writes (a method's result, an error's
    type). Values are Structs, or dicts keyed by JSON name (Bastion's error object).
    """

    __slots__ = ("_body_attr", "_cookies", "_ct", "_encode", "_headers", "_removed",
                 "_sets_type", "bodyless", "plain", "status")

    def __init__(
        self,
        response: HTTPResponseExpr | None,
        value: AttributeExpr | None,
        status: int,
        encode: Callable[[Any], bytes],
        content_type: tuple[bytes, bytes] = _CT_JSON,
    ) -> None:
        self.status = status
        self._encode = encode
        self._ct = content_type
        obj = value.object if value is not None else None
        attrs = obj.attributes if isinstance(obj, ObjectExpr) else {}

        def names(attr: str) -> tuple[str, str]:
            a = attrs.get(attr)
            return (a.field_name, a.wire_name) if a is not None else (attr, attr)

        mapped = response.headers if response is not None else {}
        cookies = response.cookies if response is not None else {}
        # Every mapped attribute leaves the body; framing headers are not written at all.
        self._removed = [names(a)[1] for a in [*mapped, *cookies]]
        self._headers = [
            (*names(a), h.lower().encode("latin-1")) for a, h in mapped.items()
            if h.lower().encode("latin-1") not in _FRAMING
        ]
        suffix = _cookie_suffix(response.cookie_attributes) if response is not None else ""
        self._cookies = [(*names(a), c, suffix) for a, c in cookies.items()]
        self._sets_type = any(h == b"content-type" for _, _, h in self._headers)
        body = response.body if response is not None else None
        self._body_attr = names(body) if body else None
        headers_only = bool(attrs) and bool(mapped or cookies) and all(
            a in mapped or a in cookies for a in attrs
        )
        empty = response is not None and response.body_empty
        # No body: a status that has none, Body(Empty), or a value carried in headers only.
        self.bodyless = status in _NO_BODY or empty or (self._body_attr is None and headers_only)
        self.plain = not mapped and not cookies and self._body_attr is None and not self.bodyless

    def write(self, value: Any) -> Encoded:
        """The status, headers and body for `value`."""
        if self.plain:
            return self.status, [self._ct], self._encode(value)
        headers = []
        for field, wire, header in self._headers:
            v = _get(value, field, wire)
            if v is not None:
                headers.append((header, _text(v).encode("latin-1")))
        for field, wire, name, suffix in self._cookies:
            v = _get(value, field, wire)
            if v is not None:
                headers.append((b"set-cookie", set_cookie(name, _text(v), suffix)))
        if self.bodyless:
            return self.status, headers, b""
        if not self._sets_type or all(h != b"content-type" for h, _ in headers):
            headers.insert(0, self._ct)
        if self._body_attr is not None:
            return self.status, headers, self._encode(_get(value, *self._body_attr))
        data = msgspec.to_builtins(value, enc_hook=enc_hook) if type(value) is not dict else (
            dict(value))
        if isinstance(data, dict):
            for wire in self._removed:
                data.pop(wire, None)
        return self.status, headers, self._encode(data)


def _get(value: Any, field: str, wire: str) -> Any:
    if type(value) is dict:
        return value.get(wire)
    return getattr(value, field, None)


def _text(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _cookie_suffix(attributes: dict[str, str]) -> str:
    """The attributes of a cookie, in the order Go's `http.Cookie` writes them."""
    out = []
    if attributes.get("path"):
        out.append(f"; Path={_sanitize(attributes['path'], path=True)}")
    domain = attributes.get("domain", "").lstrip(".")
    if domain:
        out.append(f"; Domain={domain}")
    max_age = int(attributes.get("max-age", "0") or 0)
    if max_age > 0:
        out.append(f"; Max-Age={max_age}")
    elif max_age < 0:
        out.append("; Max-Age=0")
    if "http-only" in attributes:
        out.append("; HttpOnly")
    if "secure" in attributes:
        out.append("; Secure")
    same_site = attributes.get("same-site", "default")
    if same_site != "default":
        out.append(f"; SameSite={same_site.title()}")
    return "".join(out)


def _sanitize(value: str, *, path: bool = False) -> str:
    # RFC 6265 cookie-octets, as Go keeps them: other bytes are dropped, not escaped.
    if path:
        return "".join(c for c in value if 0x20 <= ord(c) < 0x7F and c != ";")
    return "".join(c for c in value if 0x20 <= ord(c) < 0x7F and c not in '";\\')


def set_cookie(name: str, value: str, suffix: str) -> bytes:
    """A `Set-Cookie` value as Go's `http.SetCookie` writes it (quoted when it has `,` or ` `)."""
    text = _sanitize(value)
    if text and (" " in text or "," in text):
        text = f'"{text}"'
    return f"{name}={text}{suffix}".encode("latin-1")


class ResultEncoder:
    """Encodes one operation's results: checked by the operation, laid out by the design.

    `encode(result)` is the function to call per request: chosen once here, the plain
    one for a method with a single Response and no views.
    """

    def __init__(self, operation: Operation, encoder: msgspec.json.Encoder,
                 codec: Codec | None = None):
        method = operation.expr
        self.method = method
        self._encode = codec.encode if codec is not None else encoder.encode
        ct = _CT_JSON if codec is None else (b"content-type", codec.media_type.encode("latin-1"))
        self._ct = ct
        http = method.http
        response = http.response if http is not None else None
        result = method.result
        self.result_type: Any = operation.result_type
        self._struct: Any = operation.result_struct
        self._coerce = operation.coerce_result
        self._render = operation.render
        self.convert = operation.convert_result
        default = response.status if response is not None else (200 if result else 204)
        self.status = default
        self.layout = Layout(response, result, default, self._encode, ct)
        self.tagged = [
            (*_tag_names(result, r), Layout(r, result, r.status, self._encode, ct))
            for r in (http.tagged if http is not None else [])
        ]
        # Set for the plain path only; the others read the layout.
        self._plain = self.layout.plain
        self.encode: Callable[[Any], Encoded]
        if self.result_type is None:
            self.encode = self._nothing
        elif operation.views:
            self.encode = self._viewed
        elif self.tagged:
            self.encode = self._tagged
        elif not operation.checks_results and self._plain:
            self.encode = self._unchecked
        else:
            self.encode = self._single

    def __call__(self, result: Any) -> Encoded:
        """Return the status, headers and body for `result`."""
        return self.encode(result)

    def _nothing(self, result: Any) -> Encoded:
        return self.status, [], b""

    def _single(self, result: Any) -> Encoded:
        # `convert`, inlined: a result that is the Struct already is used as it is.
        value = result if type(result) is self._struct else self._coerce(result)
        if self._plain:
            return self.status, [self._ct], self._encode(value)
        return self.layout.write(value)

    def _unchecked(self, result: Any) -> Encoded:
        # ValidateResults(False): data msgspec can write goes out as the method made it.
        if type(result) is dict or type(result) is list or isinstance(result, msgspec.Struct):
            return self.status, [self._ct], self._encode(result)
        return self._single(result)

    def _tagged(self, result: Any) -> Encoded:
        value = result if type(result) is self._struct else self._coerce(result)
        for field, wanted, layout in self.tagged:
            if getattr(value, field, None) == wanted:
                return layout.write(value)
        return self.layout.write(value)

    def _viewed(self, result: Any) -> Encoded:
        view, value = self._render(result)
        layout = self.layout
        for field, wanted, tagged in self.tagged:
            if getattr(value, field, None) == wanted:
                layout = tagged
                break
        status, headers, body = layout.write(value)
        headers.append((_GOA_VIEW, view.encode("latin-1")))
        return status, headers, body


def _tag_names(result: AttributeExpr | None, response: HTTPResponseExpr) -> tuple[str, str]:
    name, value = response.tag or ("", "")
    obj = result.object if result is not None else None
    attr = obj.attributes.get(name) if obj is not None else None
    return (attr.field_name if attr is not None else name), value


def _body_type(method: Any) -> Any:
    """The design type of a method's response body: the result, or its `Body` attribute."""
    result = method.result
    if result is None:
        return None
    http = method.http
    response = http.response if http is not None else None
    if response is not None and response.body and result.object is not None:
        attr = result.object.attributes.get(response.body)
        return attr.type if attr is not None else None
    return result.type


def body_codecs(method: Any, codecs: Codecs) -> list[Codec]:
    """The codecs a method's result may be written with, the preferred first.

    A Response with `ContentType(...)` has one: the App's codec of that type (named as the
    design names it), JSON's for a `+json` type, the text itself for a String or Bytes
    body of any other type, and JSON's otherwise, as Goa's encoder falls back to.
    """
    t = _body_type(method)
    text = isinstance(t, Primitive) and t.kind in ("string", "bytes")
    http = method.http
    response = http.response if http is not None else None
    fixed = response.content_type if response is not None else None
    if fixed is None:
        return codecs.offered(text=text)
    found = codecs.get(fixed)
    if found is None or (not found.structured and not text):
        found = TEXT if text else JSON
    return [Codec(fixed, found.encode, found.decode, found.structured)]


#: Distinct `Accept` values remembered per method: clients send a handful of them.
_CACHE_SIZE = 64


class Negotiator:
    """Picks one method's encoders from a request's `Accept`, among the codecs it offers.

    `pick(accept)` returns (result encode function, error encoder, error codec) or raises
    the 406 naming the media types offered. Error bodies are objects: a text-only codec
    writes them as JSON.
    """

    __slots__ = ("_cache", "_default", "_names", "_offered", "by_codec")

    def __init__(self, offered: list[Codec],
                 by_codec: dict[str, tuple[Any, Any, Codec]]) -> None:
        self._offered = offered
        self.by_codec = by_codec
        self._default = by_codec[offered[0].media_type]
        self._cache: dict[bytes, tuple[Any, Any, Codec]] = {}
        self._names = ", ".join(c.media_type for c in offered)

    def pick(self, accept: bytes | None) -> tuple[Any, Any, Codec]:
        """The encoders for a request whose `Accept` is `accept` (None: absent)."""
        if accept is None:
            return self._default
        found = self._cache.get(accept)
        if found is not None:
            return found
        codec = choose(self._offered, accept.decode("latin-1"))
        if codec is None:
            raise HTTPError(406, "not_acceptable",
                            f"no acceptable media type: this method answers {self._names}",
                            headers=[(b"vary", b"accept")])
        found = self.by_codec[codec.media_type]
        if len(self._cache) < _CACHE_SIZE:
            self._cache[accept] = found
        return found
