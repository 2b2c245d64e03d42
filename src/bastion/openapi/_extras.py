"""The document's parts Goa's Meta keys and servers shape: tags, summaries, ids, servers, files.

- `openapi:tag:<name>` on the API, a service, a service's or a method's HTTP block
  defines tag `<name>` (`:desc`, `:url`, `:url:desc` describe it); on a method (or its
  HTTP block) it also tags the method's operations, instead of the service's name;
- `openapi:summary` (method, service or API: the nearest wins) is the operation's
  summary, `{path}` replaced by the route's path;
- `openapi:operationId` (same levels) is a template of `{service}`, `{method}` and
  `(#{routeIndex})`, as in Goa;
- `openapi:generate` `false` leaves a service, a method, a `Files`, a server or a host
  out of the document;
- `Server`/`Host`/`Variable` become `servers`, each host's first HTTP URL with its
  variables.
"""

from __future__ import annotations

import re
from typing import Any

from bastion.dsl.expr import (
    APIExpr,
    FileServerExpr,
    MethodExpr,
    RouteExpr,
    ServiceExpr,
    meta_flag,
    meta_value,
)

__all__ = ["doc_tags", "file_operation", "operation_id", "operation_tags", "servers", "summary",
           "visible"]

_DEFAULT_OPERATION_ID = "{service}#{method}(#{routeIndex})"
_ROUTE_INDEX = re.compile(r"\((.*?)\{routeIndex\}\)")


def visible(meta: dict[str, Any]) -> bool:
    """Whether an element is in the document (`Meta("openapi:generate", "false")` hides it)."""
    return meta_flag(meta, "openapi:generate")


def _tags(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tags `openapi:tag:*` keys of `meta` define, in key order, as OpenAPI Tag objects."""
    found: dict[str, dict[str, Any]] = {}
    for key in sorted(meta):
        parts = key.split(":", 3)
        if len(parts) < 3 or parts[0] not in ("openapi", "swagger") or parts[1] != "tag":
            continue
        tag = found.setdefault(parts[2], {"name": parts[2]})
        value = meta_value(meta, key) or ""
        rest = parts[3] if len(parts) == 4 else ""
        if rest == "desc":
            tag["description"] = value
        elif rest == "url":
            tag.setdefault("externalDocs", {})["url"] = value
        elif rest == "url:desc":
            tag.setdefault("externalDocs", {})["description"] = value
    for tag in found.values():
        docs = tag.get("externalDocs")
        if docs is not None and "url" not in docs:
            del tag["externalDocs"]  # OpenAPI requires the URL
    return found


def operation_tags(m: MethodExpr) -> list[str]:
    """The tags of a method's operations: its own `openapi:tag:*`, else its service's name."""
    names = list(_tags(m.meta)) + [n for n in _tags(m.http.meta if m.http else {})
                                   if n not in _tags(m.meta)]
    return names or [m.service.name]


def doc_tags(api: APIExpr, services: list[ServiceExpr]) -> list[dict[str, Any]]:
    """The document's tags: each service shown, then the tags the design defines."""
    out: dict[str, dict[str, Any]] = {}
    for svc in services:
        out[svc.name] = {"name": svc.name, **({"description": svc.description}
                                             if svc.description else {})}
    metas = [api.meta, *(m for s in services for m in (s.meta, s.http.meta if s.http else {})),
             *(m for s in services for meth in s.methods.values()
               for m in (meth.meta, meth.http.meta if meth.http else {}))]
    for meta in metas:
        for name, tag in _tags(meta).items():
            merged = out.setdefault(name, {"name": name})
            for key, value in tag.items():
                merged.setdefault(key, value)
    return list(out.values())


def _nearest(m: MethodExpr, key: str) -> str | None:
    for meta in (m.meta, m.service.meta, m.service.api.meta):
        value = meta_value(meta, key)
        if value:
            return value
    return None


def summary(m: MethodExpr, route: RouteExpr) -> str | None:
    """The `openapi:summary` of a method's operation, if the design sets one."""
    text = _nearest(m, "openapi:summary")
    return text.replace("{path}", route.full_path) if text else None


def operation_id(template: str | None, service: str, method: str, index: int) -> str:
    """An operationId from a Goa template: `{service}`, `{method}`, `(#{routeIndex})`."""
    t = template or _DEFAULT_OPERATION_ID
    if "{" not in t and index == 0:
        return t
    out = t.replace("{service}", service).replace("{method}", method)
    if index == 0:
        return _ROUTE_INDEX.sub("", out)
    sep = _ROUTE_INDEX.search(t)
    if sep is not None:
        return _ROUTE_INDEX.sub(f"{sep.group(1)}{index + 1}", out)
    return f"{out}#{index + 1}"


def servers(api: APIExpr) -> list[dict[str, Any]]:
    """The document's `servers`: plain URLs, then each visible host's HTTP URL."""
    out: list[dict[str, Any]] = [
        {"url": url, **({"description": d} if d else {})} for url, d in api.servers
    ]
    for server in api.server_defs:
        if not visible(server.meta):
            continue
        for host in server.hosts:
            if not visible(host.meta) or not host.uris:
                continue
            url = next((u for u in host.uris if u.split(":", 1)[0] in ("http", "https")),
                       host.uris[0])
            entry: dict[str, Any] = {"url": url}
            description = host.description or server.description
            if description:
                entry["description"] = description
            variables: dict[str, Any] = {}
            for name, attr in host.variables.items():
                if f"{{{name}}}" not in url:
                    continue
                default = attr.default if attr.has_default else (attr.enum or [""])[0]
                var: dict[str, Any] = {"default": str(default)}
                if attr.enum:
                    var["enum"] = [str(v) for v in attr.enum]
                if attr.description:
                    var["description"] = attr.description
                variables[name] = var
            if variables:
                entry["variables"] = variables
            out.append(entry)
    return out


def file_operation(svc: ServiceExpr, files: FileServerExpr, wildcard: str | None,
                   index: int) -> dict[str, Any]:
    """The GET operation of a `Files` declaration: what the file server answers."""
    op: dict[str, Any] = {
        "tags": list(_tags(files.meta)) or [svc.name],
        "summary": meta_value(files.meta, "openapi:summary") or f"Download {files.filename}",
    }
    if files.description:
        op["description"] = files.description
    op["operationId"] = operation_id(
        meta_value(files.meta, "openapi:operationId")
        or meta_value(svc.meta, "openapi:operationId")
        or meta_value(svc.api.meta, "openapi:operationId"),
        svc.name, files.full_path, 0) if index == 0 else f"{svc.name}#files#{index + 1}"
    if wildcard:
        op["parameters"] = [{"name": wildcard, "in": "path", "required": True,
                             "description": "The file's path, relative to the folder.",
                             "schema": {"type": "string"}}]
    header = {"schema": {"type": "string"}}
    op["responses"] = {
        "200": {"description": "The file.", "headers": {
            "ETag": header, "Last-Modified": header, "Accept-Ranges": header},
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
        "206": {"description": "The byte range the `Range` header asked for.",
                "headers": {"Content-Range": header},
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
        "304": {"description": "Not modified since the version the client has "
                               "(`If-None-Match`, `If-Modified-Since`)."},
        "404": {"description": "No such file."},
        "416": {"description": "The range starts past the end of the file.",
                "headers": {"Content-Range": header}},
    }
    return op
