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

from collections.abc import Sequence
from typing import Any

from bastion.dsl._bodies import bodies_of
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    RouteExpr,
    UserTypeExpr,
    meta_value,
)
from bastion.errors import DesignError
from bastion.openapi import _extras
from bastion.openapi._media import MediaTypes, multipart_schema
from bastion.openapi._responses import BUILTIN, FIELD_ERROR, Responses
from bastion.openapi._security import SecurityDoc
from bastion.openapi.jsonschema import SchemaRegistry

__all__ = ["OPENAPI_VERSION", "spec"]

#: The OpenAPI version of every document `spec` builds.
OPENAPI_VERSION = "3.1.0"

_JSON = "application/json"
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})

def spec(api: APIExpr, media_types: Sequence[tuple[str, bool]] | None = None) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of `api` as JSON data, finalizing the design first.

    `media_types` are the App's codecs, (media type, structured), in order of preference
    (Bastion's defaults when None). Raises `DesignError` when the design is invalid.
    """
    api.finalize()
    return _Builder(api, media_types).build()


class _Builder(Responses):
    """Builds one document; holds the state shared by its operations."""

    def __init__(self, api: APIExpr, media_types: Sequence[tuple[str, bool]] | None = None
                 ) -> None:
        self.api = api
        self.media = MediaTypes(media_types)
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
        self.schemas.define(self.field_error_name, FIELD_ERROR)
        out: dict[str, Any] = {"schemas": self.schemas.definitions()}
        if self.responses_used:
            out["responses"] = {
                BUILTIN[status][0]: self.builtin_response(status)
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
        if m.stream_kind is not None:
            from bastion.openapi._streams import document_stream

            document_stream(op, m, self.schemas)
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
        bodies = bodies_of(http)
        if bodies is not None and bodies.skip_request is not None:
            return {"content": self.media.request(m, {}, None), "required": True}
        obj = payload.object
        description = payload.description
        body_type = None
        if bodies is not None and bodies.multipart is not None and obj is not None:
            form = obj.attributes[http.body].object if http.body is not None else obj
            if form is not None:
                return self._form_body(m, form, names=None if http.body else _unmapped(m, obj))
        if http.body is not None and obj is not None:
            attr = obj.attributes[http.body]
            body_type = attr.type
            schema = self.schemas.attribute(attr)
            required = http.body in obj.required
            description = None  # the attribute's own description sits in its schema
        elif obj is None:
            body_type = payload.type
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
        body["content"] = self.media.request(m, schema, body_type)
        if required:
            body["required"] = True
        return body

    def _form_body(self, m: MethodExpr, form: ObjectExpr, names: list[str] | None
                   ) -> dict[str, Any]:
        """A `multipart/form-data` body: each part a property, `File` parts binary."""
        kept = names if names is not None else list(form.attributes)
        schema = multipart_schema(self.schemas.object(form, kept), form.attributes)
        body: dict[str, Any] = {"content": self.media.request(m, schema, None)}
        if any(n in form.required for n in kept):
            body["required"] = True
        return body

    # ------------------------------------------------------------------ responses

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


def _unmapped(m: MethodExpr, obj: ObjectExpr) -> list[str]:
    """The payload attributes no parameter, header or cookie takes: the body's."""
    http = m.http
    if http is None:
        return list(obj.attributes)
    mapped = set(http.params) | set(http.headers) | set(http.cookies)
    mapped |= set(http.authorization) | _path_params(m)
    return [n for n in obj.attributes if n not in mapped]


def _path_params(m: MethodExpr) -> set[str]:
    return {name for r in (m.http.routes if m.http else []) for name in r.params}


def _template(path: str) -> str:
    """`/files/{*rest}` as OpenAPI writes it: `/files/{rest}`."""
    return path.replace("{*", "{")


