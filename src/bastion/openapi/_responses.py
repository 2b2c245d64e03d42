"""The responses of an operation in the OpenAPI document, as the runtime answers them.

The result's (one per `Response`, tagged ones included; a view the method picks is
`anyOf` the views, with `Goa-View`), each design error's (its body the error's type,
`Goa-Error` naming it, its Response block's headers and body), and the built-in error
responses every operation may give (shared in `components/responses`, merged inline
with a design error answering the same status).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from bastion.dsl.expr import (
    ERROR_RESULT,
    APIExpr,
    AttributeExpr,
    ErrorExpr,
    HTTPResponseExpr,
    Location,
    MethodExpr,
    RouteExpr,
    UserTypeExpr,
)
from bastion.openapi._media import MediaTypes, is_text
from bastion.openapi._security import SecurityDoc
from bastion.openapi.jsonschema import SchemaRegistry

__all__ = ["BUILTIN", "FIELD_ERROR", "Responses"]

_JSON = "application/json"
_NO_CONTENT = frozenset({204, 205, 304})
_FRAMING = frozenset({"content-length", "transfer-encoding"})

# Responses every operation may give besides its design's: status -> (component, text).
BUILTIN: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "The request is invalid. `errors` lists every bad field with where it was read "
        "(`in`: path, query, header, cookie or body) and why; `missing_payload` when the "
        "request has no body where one is expected.",
    ),
    401: (
        "Unauthorized",
        "Credentials are missing or invalid. `WWW-Authenticate` names the accepted schemes.",
    ),
    403: (
        "Forbidden",
        "The credentials are valid but not enough; the message names any missing scope.",
    ),
    408: (
        "RequestTimeout",
        "The request body did not arrive in time (`READ_TIMEOUT`); `temporary` is true.",
    ),
    413: (
        "PayloadTooLarge",
        "The request body, once decoded, is larger than the server accepts.",
    ),
    406: (
        "NotAcceptable",
        "No media type the method answers in is acceptable to the request's `Accept`; the "
        "message names those it answers in.",
    ),
    415: (
        "UnsupportedMediaType",
        "The request body is in no media type the method reads (the message names them), "
        "or its `Content-Encoding` is not `gzip`, `deflate` or `identity`.",
    ),
    429: (
        "TooManyRequests",
        "A rate limit, or the lockout after repeated failed authentications, refused the "
        "request; retry after `Retry-After` seconds. `temporary` is true.",
    ),
    500: (
        "InternalError",
        "An unexpected error. The body's `id` matches the server's log line and trace.",
    ),
    503: (
        "ServiceUnavailable",
        "The server is overloaded (`MAX_CONCURRENCY`), the answer took longer than "
        "`WRITE_TIMEOUT`, or the server is shutting down; `temporary` is true.",
    ),
}



class Responses:
    """The part of the document builder that writes responses (a mixin of the builder)."""

    api: APIExpr
    schemas: SchemaRegistry
    security: SecurityDoc
    error_name: str
    field_error_name: str
    responses_used: set[int]
    media: MediaTypes

    def responses(self, m: MethodExpr, route: RouteExpr, *, has_body: bool) -> dict[str, Any]:
        """The result response, mapped design errors and the built-in error responses."""
        by_status: dict[int, list[dict[str, Any]]] = {}
        builtin: dict[int, bool] = {}
        for status, ok in self.success(m, route):
            by_status.setdefault(status, []).append(ok)
        for e in m.all_errors():
            for code, response in self.design_error(m, e, route):
                by_status.setdefault(code, []).append(response)
        wanted = [500, 503]
        if m.payload is not None:
            wanted.append(400)
        if has_body:
            wanted += [408, 413, 415]
        if self.negotiated(m):
            wanted.append(406)
        secured = bool(m.effective_requirements())
        if secured:
            wanted += [401, 403]
        if secured or self.security.rate_limited(m):
            wanted.append(429)
        for code in wanted:
            builtin[code] = True
            by_status.setdefault(code, []).insert(0, self.builtin_response(code))
        out: dict[str, Any] = {}
        for code in sorted(by_status):
            items = by_status[code]
            if builtin.get(code) and len(items) == 1:
                self.responses_used.add(code)
                out[str(code)] = {"$ref": f"#/components/responses/{BUILTIN[code][0]}"}
            else:
                out[str(code)] = _merge(items)
        return out

    def success(self, m: MethodExpr, route: RouteExpr) -> list[tuple[int, dict[str, Any]]]:
        """Return each result response (tagged ones, then the default) and its status."""
        http, result = m.http, m.result
        responses = http.responses if http is not None else []
        streamed = self.media.streamed(m)
        if not responses:
            status = 200 if result is not None or streamed else 204
            written = self.written(None, result, status, route, views=m.result_views, text=True)
            if streamed and route.verb != "HEAD":
                written["content"] = streamed
            return [(status, written)]
        out = []
        for r in responses:
            written = self.written(r, result, r.status, route, views=m.result_views, text=True)
            if streamed and route.verb != "HEAD":
                written["content"] = streamed
            if r.tag is not None:
                name, value = r.tag
                written["description"] += f" (results whose `{name}` is {value!r})"
            out.append((r.status, written))
        return out

    def written(
        self,
        r: HTTPResponseExpr | None,
        value: AttributeExpr | None,
        status: int,
        route: RouteExpr,
        *,
        views: dict[str, AttributeExpr] | None = None,
        description: str | None = None,
        text: bool = False,
    ) -> dict[str, Any]:
        """One response as the runtime writes `value` with Response `r`: headers, body.

        `text`: a String or Bytes body may be negotiated as `text/plain` (results only).
        """
        description = description or (r.description if r is not None else None) or (
            value.description if value is not None else None) or _phrase(status)
        out: dict[str, Any] = {"description": description}
        if value is None:
            return out
        obj = value.object
        header_attrs = r.headers if r is not None else {}
        cookies = r.cookies if r is not None else {}
        # Framing headers are the server's (the body's real length), whatever is mapped.
        shown = {n: w for n, w in header_attrs.items() if w.lower() not in _FRAMING}
        headers: dict[str, Any] = {}
        if shown and obj is not None:
            headers.update({
                wire: self.header(obj.attributes[name], required=name in obj.required)
                for name, wire in shown.items() if name in obj.attributes
            })
        if cookies:
            names = ", ".join(cookies.values())
            headers["Set-Cookie"] = _string_header(f"Sets cookie(s) {names}.")
        if views:
            headers["Goa-View"] = {"description": "The view the result is rendered in.",
                                   "schema": {"type": "string", "enum": list(views)}}
        if headers:
            out["headers"] = headers
        if status in _NO_CONTENT or route.verb == "HEAD" or (r is not None and r.body_empty):
            return out
        mapped = {**header_attrs, **cookies}
        if views:
            schemas = [self.body_schema(r, v, mapped) for v in views.values()]
            kept = [x for x in schemas if x is not None]
            schema = kept[0] if len(kept) == 1 else ({"anyOf": kept} if kept else None)
        else:
            schema = self.body_schema(r, value, mapped)
        if schema is not None:
            fixed = r.content_type if r is not None else None
            body_attr = obj.attributes.get(r.body) if (
                r is not None and r.body and obj is not None) else None
            body_type = body_attr.type if body_attr is not None else value.type
            out["content"] = self.media.content(schema, text=text and is_text(body_type),
                                                fixed=fixed)
        return out

    def negotiated(self, m: MethodExpr) -> bool:
        """Whether `m`'s result is written in the media type `Accept` picks (a 406 if none)."""
        if m.result is None or self.media.streamed(m) is not None:
            return False
        http = m.http
        response = http.response if http is not None else None
        if response is not None and response.content_type is not None:
            return False
        return len(self.media.content({}, text=True)) > 1

    def body_schema(self, r: HTTPResponseExpr | None, value: AttributeExpr,
                    mapped: dict[str, str]) -> dict[str, Any] | None:
        """The schema of the body `value` makes once headers and cookies took their part."""
        obj = value.object
        if r is not None and r.body is not None and obj is not None:
            return self.schemas.attribute(obj.attributes[r.body])
        if obj is None:
            schema = self.schemas.attribute(value)
            schema.pop("description", None)  # already the response's description
            return schema
        names = [n for n in obj.attributes if n not in mapped]
        if mapped and not names:
            return None  # every attribute travels in a header or a cookie
        if isinstance(value.type, UserTypeExpr) and not mapped:
            if value.type is ERROR_RESULT:
                return self.schemas.ref_to(self.error_name)
            return self.schemas.ref(value.type)
        return self.schemas.object(obj, names)

    def header(self, attr: AttributeExpr, *, required: bool) -> dict[str, Any]:
        """Return the Header object of a result attribute written as a response header."""
        schema = self.schemas.attribute(attr)
        h: dict[str, Any] = {}
        description = schema.pop("description", None)
        if description:
            h["description"] = description
        if required:
            h["required"] = True
        h["schema"] = schema
        return h

    def design_error(
        self, m: MethodExpr, e: ErrorExpr, route: RouteExpr
    ) -> list[tuple[int, dict[str, Any]]]:
        """Return each response of design error `e`: status, `Goa-Error`, the body it is."""
        value = AttributeExpr(e.name, e.type if e.typed else ERROR_RESULT, _NOWHERE)
        flags = [f for f in ("temporary", "timeout", "fault") if getattr(e, f)]
        note = f" ({', '.join(flags)})" if flags else ""
        responses = _error_responses(m, e.name)
        if not responses:
            # The status the runtime answers: the design's mapping, else 500 or 400.
            code = m.error_status(e.name) or (500 if e.fault else 400)
            responses = [(code, None)]
        out = []
        for code, r in responses:
            text = (r.description if r is not None else None) or e.description
            written = self.written(r, value, code, route,
                                   description=f"{e.name}: {text}" if text else e.name)
            written["description"] += note
            written.setdefault("headers", {})["Goa-Error"] = {
                "description": "The name of the design error.",
                "schema": {"type": "string", "enum": [e.name]},
            }
            out.append((code, written))
        return out

    def builtin_response(self, status: int) -> dict[str, Any]:
        """Return the shared response for a built-in error status (400, 401, …)."""
        out: dict[str, Any] = {"description": BUILTIN[status][1]}
        if status == 401:
            out["headers"] = {"WWW-Authenticate": _string_header("The accepted schemes.")}
        elif status == 503:
            out["headers"] = {
                "Retry-After": _string_header("Seconds to wait before retrying.", "integer"),
            }
        elif status == 429:
            out["headers"] = {
                "Retry-After": _string_header("Seconds to wait before retrying.", "integer"),
                "RateLimit-Limit": _string_header("Requests allowed in the window.", "integer"),
                "RateLimit-Remaining": _string_header("Requests left in the window.", "integer"),
                "RateLimit-Reset": _string_header("Seconds until the window resets.", "integer"),
            }
        out["content"] = self.media.content(self.schemas.ref_to(self.error_name))
        return out

    def error_schema(self) -> dict[str, Any]:
        """Return the `Error` schema: the body of every error response."""
        return {
            "title": "Error",
            "description": "The body of every error response.",
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The error's name, e.g. `not_found`."},
                "id": {
                    "type": "string",
                    "description": "Unique id of this occurrence, also in the server's logs.",
                },
                "message": {"type": "string", "description": "What went wrong."},
                "temporary": {"type": "boolean", "description": "Retrying may succeed."},
                "timeout": {"type": "boolean", "description": "The error is a timeout."},
                "fault": {"type": "boolean", "description": "The server is at fault."},
                "field": {"type": "string", "description": "The field the error is about."},
                "errors": {
                    "type": "array",
                    "description": "Every invalid field, for validation errors.",
                    "items": self.schemas.ref_to(self.field_error_name),
                },
            },
            "required": ["name", "id", "message", "temporary", "timeout", "fault"],
        }


FIELD_ERROR: dict[str, Any] = {
    "title": "FieldError",
    "description": "One invalid field of a request.",
    "type": "object",
    "properties": {
        "field": {"type": "string", "description": "The field's name, e.g. `order.amount`."},
        "in": {
            "type": "string",
            "description": "Where it was read: path, query, header, cookie or body.",
        },
        "message": {"type": "string", "description": "Why it is invalid."},
    },
    "required": ["field", "in", "message"],
}

_NOWHERE = Location("<bastion>", 0)


def _error_responses(m: MethodExpr, name: str) -> list[tuple[int, HTTPResponseExpr | None]]:
    """The Responses the nearest HTTP mapping gives error `name`, tagged ones first."""
    for mapping in (m.http, m.service.http, m.service.api.http):
        if mapping is not None:
            found = [em for em in mapping.errors if em.name == name]
            if found:
                found.sort(key=lambda em: em.response is None or em.response.tag is None)
                return [(em.status, em.response) for em in found]
    return []


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _string_header(description: str, type_: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": type_}}


def _merge(items: list[dict[str, Any]]) -> dict[str, Any]:
    """One response for several at the same status: descriptions joined, bodies any-of."""
    if len(items) == 1:
        return items[0]
    descriptions: list[str] = []
    by_media: dict[str, list[dict[str, Any]]] = {}
    headers: dict[str, Any] = {}
    for item in items:
        if item["description"] not in descriptions:
            descriptions.append(item["description"])
        for name, header in item.get("headers", {}).items():
            known = headers.get(name)
            enum = known.get("schema", {}).get("enum") if known is not None else None
            if known is not None and enum and header.get("schema", {}).get("enum"):
                # Goa-Error (or Goa-View) of several errors at one status: any of them.
                merged = [*enum, *(v for v in header["schema"]["enum"] if v not in enum)]
                headers[name] = {**known, "schema": {**known["schema"], "enum": merged}}
            else:
                headers[name] = header
        for media, body in (item.get("content") or {}).items():
            found = by_media.setdefault(media, [])
            if body["schema"] not in found:
                found.append(body["schema"])
    out: dict[str, Any] = {"description": "\n\n".join(descriptions)}
    if headers:
        out["headers"] = headers
    if by_media:
        out["content"] = {
            media: {"schema": found[0] if len(found) == 1 else {"anyOf": found}}
            for media, found in by_media.items()}
    return out

