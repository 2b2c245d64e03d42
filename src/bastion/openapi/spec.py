"""OpenAPI 3.1 documents from a design: paths, parameters, bodies, responses and security.

`spec(api)` returns plain JSON data (`bastion.openapi.output` writes it out).
Conventions the document follows:

- `operationId` is `service#method` as in Goa; a method's second route is
  `service#method#2`, and so on.
- Each operation lists every status the runtime can answer for it, and no other:
  `500` and `503` (overload, a write timeout, shutdown) always; `400` when it has input
  (validation errors listing each bad field); `408`, `413` and `415` when it reads a
  request body; `401`, `403` and `429` (the brute-force lockout) when it is secured, and
  `429` wherever a rate limit applies. These are shared `components/responses`, unless a
  design error answers the same status, in which case both are merged inline.
- Design errors use the `Error` schema unless declared with their own type, whose schema
  is then exactly the body sent; each carries the `Goa-Error` header naming it. An error
  the design maps to no status is answered as the runtime answers it, `500` for a fault
  and `400` otherwise, and documented there. An error's Response block (headers,
  `Body(Empty)`, `Description`) shapes its response as the runtime writes it.
- Several result Responses (`Tag`) are each documented at their status; a result type
  whose view the method picks is `anyOf` its views' schemas (each a named schema),
  with the `Goa-View` header.
- Goa's `openapi:*` Meta keys apply (see `_extras`); `Files` are GET operations.
- Credentials that a security scheme documents (the `Authorization` header, an API key
  where its scheme says it is) are not repeated as parameters.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from bastion.dsl.expr import (
    ERROR_RESULT,
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    ErrorExpr,
    HTTPResponseExpr,
    Location,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    RouteExpr,
    UserTypeExpr,
    meta_value,
)
from bastion.errors import DesignError
from bastion.openapi import _extras
from bastion.openapi._security import SecurityDoc
from bastion.openapi.jsonschema import SchemaRegistry

__all__ = ["OPENAPI_VERSION", "spec"]

#: The OpenAPI version of every document `spec` builds.
OPENAPI_VERSION = "3.1.0"

_JSON = "application/json"
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_NO_CONTENT = frozenset({204, 205, 304})
_FRAMING = frozenset({"content-length", "transfer-encoding"})

# Responses every operation may give besides its design's: status -> (component, text).
_BUILTIN: dict[int, tuple[str, str]] = {
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
    415: (
        "UnsupportedMediaType",
        "The request body is not `application/json`, or its `Content-Encoding` is not "
        "`gzip`, `deflate` or `identity`.",
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


def spec(api: APIExpr) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of `api` as JSON data, finalizing the design first.

    Raises `DesignError` when the design is invalid.
    """
    api.finalize()
    return _Builder(api).build()


class _Builder:
    """Builds one document; holds the state shared by its operations."""

    def __init__(self, api: APIExpr) -> None:
        self.api = api
        self.schemas = SchemaRegistry()
        self.schemas.register(api.types.values())
        # Built-in names yield to user types: a design may well declare its own `Error`.
        self.error_name = self.schemas.reserve("Error")
        self.field_error_name = self.schemas.reserve("FieldError")
        self.security = SecurityDoc(api)
        self.responses_used: set[int] = set()
        self.operation_ids: set[str] = set()

    def build(self) -> dict[str, Any]:
        """Return the whole document."""
        api = self.api
        info: dict[str, Any] = {"title": api.title or api.name, "version": api.version}
        if api.description:
            info["description"] = api.description
        doc: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
        servers = _extras.servers(api)
        if servers:
            doc["servers"] = servers
        if api.requirements:
            doc["security"] = self.security.requirements(api.requirements)
        shown: list[Any] = []
        paths: dict[str, dict[str, Any]] = {}
        owners: dict[tuple[str, str], MethodExpr] = {}
        for svc in api.services.values():
            if not _extras.visible(svc.meta):
                continue
            routed = [(m, m.http.routes) for m in svc.methods.values()
                      if m.http is not None and _extras.visible(m.meta)]
            routed = [(m, routes) for m, routes in routed if routes]
            files = [f for f in svc.files if _extras.visible(f.meta)]
            if not routed and not files:
                continue
            shown.append(svc)
            for f in files:
                wildcard = f.path.rstrip("/").rsplit("/", 1)[-1][2:-1] if f.is_dir else None
                op = _extras.file_operation(svc, f, wildcard, 0)
                op["operationId"] = self.unique_id(op["operationId"])
                if api.requirements:
                    op["security"] = []  # files are served to anyone, as Goa's are
                for code in ("404", "416"):
                    op["responses"][code]["content"] = {
                        _JSON: {"schema": self.schemas.ref_to(self.error_name)}}
                paths.setdefault(_template(f.full_path), {})["get"] = op
            for m, routes in routed:
                for index, route in enumerate(routes):
                    path = _template(route.full_path)
                    verb = route.verb.lower()
                    other = owners.get((path, verb))
                    if other is not None:
                        raise DesignError(
                            f"{route.location}: {m.qualified}: route {route.verb} "
                            f"{route.full_path} and a route of {other.qualified} are the same "
                            f"OpenAPI operation ({route.verb} {path}); rename a path parameter"
                        )
                    owners[(path, verb)] = m
                    paths.setdefault(path, {})[verb] = self.operation(m, route, index)
        tags = _extras.doc_tags(api, shown)
        if tags:
            doc["tags"] = tags
        doc["paths"] = paths
        doc["components"] = self.components()
        return doc

    def components(self) -> dict[str, Any]:
        """Return `components`: schemas, shared responses and security schemes."""
        self.schemas.define(self.error_name, self.error_schema())
        self.schemas.define(self.field_error_name, _FIELD_ERROR)
        out: dict[str, Any] = {"schemas": self.schemas.definitions()}
        if self.responses_used:
            out["responses"] = {
                _BUILTIN[status][0]: self.builtin_response(status)
                for status in sorted(self.responses_used)
            }
        schemes = self.security.schemes()
        if schemes:
            out["securitySchemes"] = schemes
        return out

    # ------------------------------------------------------------------ operations

    def operation(self, m: MethodExpr, route: RouteExpr, index: int) -> dict[str, Any]:
        """Return the Operation object of `m` served at `route`."""
        op: dict[str, Any] = {"tags": _extras.operation_tags(m)}
        text = (m.description or "").strip()
        first = text.splitlines()[0] if text else m.name
        summary = _extras.summary(m, route) or first
        op["summary"] = summary
        if text and text != summary:
            op["description"] = text
        op["operationId"] = self.operation_id(m, index)
        params = self.parameters(m, route)
        if params:
            op["parameters"] = params
        body = self.request_body(m) if route.verb not in _BODYLESS else None
        if body is not None:
            op["requestBody"] = body
        op["responses"] = self.responses(m, route, has_body=body is not None)
        reqs = m.effective_requirements()
        if reqs:
            op["security"] = self.security.requirements(reqs)
        elif self.api.requirements:
            op["security"] = []  # public: do not inherit the document's default
        return op

    def operation_id(self, m: MethodExpr, index: int) -> str:
        """Return a unique `service#method` id; later routes of a method get `#2`, `#3`…

        `Meta("openapi:operationId", template)` (method, service or API) sets the
        template, as in Goa.
        """
        template = None
        for meta in (m.meta, m.service.meta, m.service.api.meta):
            template = meta_value(meta, "openapi:operationId")
            if template:
                break
        return self.unique_id(_extras.operation_id(template, m.service.name, m.name, index))

    def unique_id(self, base: str) -> str:
        """`base`, or `base#2`, `#3`… when another operation has it already."""
        candidate, n = base, 1
        while candidate in self.operation_ids:
            n += 1
            candidate = f"{base}#{n}"
        self.operation_ids.add(candidate)
        return candidate

    def parameters(self, m: MethodExpr, route: RouteExpr) -> list[dict[str, Any]]:
        """Path, query, header and cookie parameters of `m` at `route`."""
        attrs, required = _payload(m)
        out: list[dict[str, Any]] = []
        for seg in route.full_path.split("/"):
            if not (seg.startswith("{") and seg.endswith("}")):
                continue
            name = seg[1:-1].lstrip("*")
            p = self.parameter(name, "path", attrs[name], required=True)
            if seg.startswith("{*"):
                note = "Matches the rest of the path, slashes included."
                p["description"] = f"{p['description']} {note}" if "description" in p else note
            out.append(p)
        http = m.http
        tables = (
            (("query", http.params), ("header", http.headers), ("cookie", http.cookies))
            if http is not None
            else ()
        )
        for where, table in tables:
            for attr_name, wire in table.items():
                attr = attrs[attr_name]
                if self.security.carried(m, attr_name, attr):
                    continue
                p = self.parameter(wire, where, attr, required=attr_name in required)
                if where == "query" and isinstance(attr.type, ArrayExpr | MapExpr):
                    # `?tag=a&tag=b`; a map spreads its keys as parameters (`?a=1&b=2`).
                    p["style"] = "form"
                    p["explode"] = True
                out.append(p)
        if http is not None and http.map_params is not None:
            # MapParams: the query string's keys are the map's (`?a=1&b=2`).
            target = m.payload if http.map_params == "" else attrs.get(http.map_params)
            if target is not None:
                name = http.map_params or "query"
                p = self.parameter(name, "query", target,
                                   required=not http.map_params or http.map_params in required)
                p["style"] = "form"
                p["explode"] = True
                out.append(p)
        return out

    def parameter(
        self, name: str, where: str, attr: AttributeExpr, *, required: bool
    ) -> dict[str, Any]:
        """Return one Parameter object; the description moves from the schema to it."""
        schema = self.schemas.attribute(attr)
        p: dict[str, Any] = {"name": name, "in": where}
        description = schema.pop("description", None)
        if description:
            p["description"] = description
        if required:
            p["required"] = True
        p["schema"] = schema
        return p

    def request_body(self, m: MethodExpr) -> dict[str, Any] | None:
        """The request body: one `Body(attr)` attribute, or the payload's unmapped rest."""
        http, payload = m.http, m.payload
        if http is None or payload is None or http.map_params == "":
            return None
        if http.payload is not None:
            payload = http.payload
        obj = payload.object
        description = payload.description
        if http.body is not None and obj is not None:
            attr = obj.attributes[http.body]
            schema = self.schemas.attribute(attr)
            required = http.body in obj.required
            description = None  # the attribute's own description sits in its schema
        elif obj is None:
            schema = self.schemas.attribute(payload)
            schema.pop("description", None)
            required = True
        else:
            mapped = set(http.params) | set(http.headers) | set(http.cookies)
            mapped |= set(http.authorization) | _path_params(m)
            if http.map_params:
                mapped.add(http.map_params)
            names = [n for n in obj.attributes if n not in mapped]
            if not names:
                return None
            if isinstance(payload.type, UserTypeExpr) and len(names) == len(obj.attributes):
                schema = self.schemas.ref(payload.type)
            else:
                schema = self.schemas.object(obj, names)
            required = any(n in obj.required for n in names)
        body: dict[str, Any] = {}
        if description:
            body["description"] = description
        body["content"] = {_JSON: {"schema": schema}}
        if required:
            body["required"] = True
        return body

    # ------------------------------------------------------------------ responses

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
                out[str(code)] = {"$ref": f"#/components/responses/{_BUILTIN[code][0]}"}
            else:
                out[str(code)] = _merge(items)
        return out

    def success(self, m: MethodExpr, route: RouteExpr) -> list[tuple[int, dict[str, Any]]]:
        """Return each result response (tagged ones, then the default) and its status."""
        http, result = m.http, m.result
        responses = http.responses if http is not None else []
        if not responses:
            status = 200 if result is not None else 204
            return [(status, self.written(None, result, status, route, views=m.result_views))]
        out = []
        for r in responses:
            written = self.written(r, result, r.status, route, views=m.result_views)
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
    ) -> dict[str, Any]:
        """One response as the runtime writes `value` with Response `r`: headers, body."""
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
            out["content"] = {_JSON: {"schema": schema}}
        return out

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
        out: dict[str, Any] = {"description": _BUILTIN[status][1]}
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
        out["content"] = {_JSON: {"schema": self.schemas.ref_to(self.error_name)}}
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


_FIELD_ERROR: dict[str, Any] = {
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


def _payload(m: MethodExpr) -> tuple[dict[str, AttributeExpr], set[str]]:
    http = m.http
    if http is not None and http.payload is not None:
        refined = http.payload.object
        if refined is not None:
            return refined.attributes, set(refined.required)
    obj: ObjectExpr | None = m.payload.object if m.payload is not None else None
    if obj is None:
        return {}, set()
    return obj.attributes, set(obj.required)


def _path_params(m: MethodExpr) -> set[str]:
    return {name for r in (m.http.routes if m.http else []) for name in r.params}


def _template(path: str) -> str:
    """`/files/{*rest}` as OpenAPI writes it: `/files/{rest}`."""
    return path.replace("{*", "{")


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
    schemas: list[dict[str, Any]] = []
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
        content = item.get("content")
        if content is not None and content[_JSON]["schema"] not in schemas:
            schemas.append(content[_JSON]["schema"])
    out: dict[str, Any] = {"description": "\n\n".join(descriptions)}
    if headers:
        out["headers"] = headers
    if schemas:
        schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
        out["content"] = {_JSON: {"schema": schema}}
    return out
