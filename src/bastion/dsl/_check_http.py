"""Finalize: the HTTP mapping's newer parts, servers and Meta keys, prepared and checked.

- result Responses sorted into the default and the tagged ones (`Tag`), each checked;
- the payload as HTTP requests carry it, when `Param`/`Header`/`Cookie` declare their
  own validations or `Params`/`Headers` blocks a `Required` (`HTTPMethodExpr.payload`);
- `MapParams`, error Response blocks, response cookies, `Files`, `Server`/`Host`;
- the Meta keys Bastion reads (`struct:tag:json`, `struct:field:name`, ...).
"""

from __future__ import annotations

import copy
import re

from bastion.dsl._problems import Problems
from bastion.dsl._resolve import walk
from bastion.dsl.expr import (
    ERROR_RESULT,
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    ErrorExpr,
    HTTPErrorExpr,
    HTTPMethodExpr,
    HTTPResponseExpr,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    Primitive,
    UserTypeExpr,
    meta_value,
)

__all__ = ["check_extras", "check_http_extras", "prepare_http"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VARIABLE = re.compile(r"\{([^{}]*)\}")
# What a declared HTTP attribute may override on the payload attribute.
_REFINED = ("description", "example", "enum", "format", "pattern", "minimum", "maximum",
            "exclusive_minimum", "exclusive_maximum", "min_length", "max_length")


# ---------------------------------------------------------------------------- Meta


def check_extras(api: APIExpr, problems: Problems) -> None:
    """Check the Meta keys Bastion reads, on every attribute and object of the design."""

    def visit(attr: AttributeExpr, owner: str) -> None:
        label = owner  # names the attribute already, when it is one of an object
        field = meta_value(attr.meta, "struct:field:name")
        if field is not None and (not _IDENT.match(field) or field.startswith("__")):
            problems.add(attr.location, f"{label}: Meta('struct:field:name', {field!r}) must "
                         "be a Python identifier")
        tag = meta_value(attr.meta, "struct:tag:json")
        if tag is not None:
            name = tag.split(",", 1)[0].strip()
            if not name or name == "-":
                problems.add(attr.location, f"{label}: Meta('struct:tag:json', {tag!r}) must "
                             "give the attribute's JSON name")
        if "struct:error:name" in attr.meta and _kind(attr.type) != "string":
            problems.add(attr.location, f"{label}: Meta('struct:error:name') marks the "
                         "attribute naming the error: it must be a String")
        if "openapi:generate" in attr.meta and meta_value(
            attr.meta, "openapi:generate"
        ) not in ("true", "false"):
            problems.add(attr.location, f"{label}: Meta('openapi:generate') is 'true' or "
                         "'false'")
        obj = attr.type if isinstance(attr.type, ObjectExpr) else None
        if obj is not None:
            for key, what in (("wire_name", "JSON name"), ("field_name", "Python name")):
                seen: dict[str, str] = {}
                for n, a in obj.attributes.items():
                    other = seen.setdefault(getattr(a, key), n)
                    if other != n:
                        problems.add(a.location, f"{owner}: attributes {other!r} and {n!r} have "
                                     f"the same {what} {getattr(a, key)!r}")

    walk(api, visit)


def _kind(t: DataType | None) -> str:
    if isinstance(t, Primitive):
        return t.kind
    if isinstance(t, ArrayExpr):
        return "array"
    if isinstance(t, MapExpr):
        return "map"
    return "object"


# ---------------------------------------------------------------------------- prepare


def prepare_http(api: APIExpr, problems: Problems) -> None:
    """Sort result Responses, build the HTTP payloads, place the file servers."""
    for m in api.methods():
        http = m.http
        if http is None:
            continue
        _sort_responses(m, http, problems)
        if http.declared or http.required:
            _http_payload(m, http, problems)
    blocks = [api.http, *(s.http for s in api.services.values()),
              *(m.http for m in api.methods())]
    for block in blocks:
        if block is not None:
            _check_error_mappings(block, problems)
    for svc in api.services.values():
        for files in svc.files:
            full = (api.path_prefix + svc.path_prefix + files.path) or "/"
            files.full_path = full.rstrip("/") if len(full) > 1 else full


def _sort_responses(m: MethodExpr, http: HTTPMethodExpr, problems: Problems) -> None:
    # Declaration order: the DSL keeps the first Response as `response` until now.
    every = [*([http.response] if http.response is not None else []), *http.tagged]
    untagged = [r for r in every if r.tag is None]
    tagged = [r for r in every if r.tag is not None]
    for extra in untagged[1:]:
        problems.add(extra.location, f"the result Response is declared twice (first at "
                     f"{untagged[0].location}); give all but one a Tag")
    if tagged and not untagged:
        problems.add(tagged[0].location, f"{m.qualified}: every result Response has a Tag; "
                     "one must have none (the response of the other results)")
    http.response = untagged[0] if untagged else None
    http.tagged = tagged
    seen: dict[int, HTTPResponseExpr] = {}
    for r in http.responses:
        first = seen.setdefault(r.status, r)
        if first is not r:
            problems.add(r.location, f"{m.qualified}: two result Responses answer status "
                         f"{r.status} (first at {first.location})")
    if not tagged:
        return
    obj = m.result.object if m.result is not None else None
    for r in tagged:
        name, value = r.tag or ("", "")
        where = r.tag_location or r.location
        attr = obj.attributes.get(name) if obj is not None else None
        if attr is None:
            problems.add(where, f"{m.qualified}: Tag({name!r}, {value!r}) names no attribute of "
                         "the result (a Tag needs an object Result)")
        elif _kind(attr.type) != "string":
            problems.add(where, f"{m.qualified}: Tag({name!r}, ...) needs a String attribute, "
                         f"not {attr.type_name()}")
        elif attr.enum is not None and value not in attr.enum:
            problems.add(where, f"{m.qualified}: Tag value {value!r} is not one of the enum "
                         f"values of {name!r}")


def _check_error_mappings(http: HTTPMethodExpr, problems: Problems) -> None:
    by_name: dict[str, list[HTTPErrorExpr]] = {}
    for em in http.errors:
        by_name.setdefault(em.name, []).append(em)
    for name, mappings in by_name.items():
        untagged = [em for em in mappings if em.response is None or em.response.tag is None]
        for extra in untagged[1:]:
            problems.add(extra.location, f"error {name!r} is mapped twice (first at "
                         f"{untagged[0].location}); give all but one a Tag")
        if not untagged:
            problems.add(mappings[0].location, f"every Response of error {name!r} has a Tag; "
                         "one must have none")


def _http_payload(m: MethodExpr, http: HTTPMethodExpr, problems: Problems) -> None:
    """The payload as HTTP carries it: declared refinements and `Required` applied."""
    obj = m.payload.object if m.payload is not None else None
    if m.payload is None or obj is None:
        where = next(iter(http.declared.values())).location if http.declared else next(
            iter(http.required.values()))
        problems.add(where, f"{m.qualified}: the HTTP block declares parameter types or "
                     "Required names, but the payload is not an object")
        return
    attrs = dict(obj.attributes)
    for name, declared in http.declared.items():
        base = attrs.get(name)
        if base is None:
            problems.add(declared.location, f"{m.qualified}: {name!r} is not a payload "
                         f"attribute (attributes: {', '.join(attrs) or 'none'}); declare it in "
                         "the Payload")
            continue
        if declared.type is not None and declared.type.describe() != base.type_name():
            problems.add(declared.location, f"{m.qualified}: {name!r} is declared as "
                         f"{declared.type.describe()} here but is {base.type_name()} in the "
                         "payload")
            continue
        refined = copy.copy(base)
        for key in _REFINED:
            value = getattr(declared, key)
            if value is not None:
                setattr(refined, key, value)
        if declared.has_default:
            refined.default, refined.has_default = declared.default, True
        attrs[name] = refined
    required = list(obj.required)
    for name, where in http.required.items():
        if name not in attrs:
            problems.add(where, f"{m.qualified}: Required names {name!r}, which is not a payload "
                         "attribute")
        elif name not in required:
            required.append(name)
    payload = copy.copy(m.payload)
    payload.type = ObjectExpr(attributes=attrs, required=required,
                              required_at={**obj.required_at, **http.required})
    http.payload = payload


# ---------------------------------------------------------------------------- checks


def check_http_extras(api: APIExpr, problems: Problems) -> None:
    """Check MapParams, error Responses, cookies, Required names, files and servers."""
    routes: dict[tuple[str, str], str] = {}
    for m in api.methods():
        http = m.http
        if http is None:
            continue
        for r in http.routes:
            routes[("GET" if r.verb == "HEAD" else r.verb, _shape(r.full_path))] = m.qualified
        _check_map_params(m, http, problems)
        _check_required(m, http, problems)
        for response in http.responses:
            _check_cookies(m, response, m.result, problems)
        for e in m.all_errors():
            mapping = _error_mapping(m, e.name)
            if mapping is not None and mapping.response is not None:
                _check_error_response(m, e, mapping.response, problems)
    for svc in api.services.values():
        for files in svc.files:
            segs = files.full_path.split("/")
            for i, seg in enumerate(segs):
                if seg.startswith("{*") and i != len(segs) - 1:
                    problems.add(files.location, f"Files {files.path!r}: a wildcard must be the "
                                 "last segment")
                elif "{" in seg and not seg.startswith("{*"):
                    problems.add(files.location, f"Files {files.path!r}: only a last "
                                 "'{*name}' segment may vary")
            key = ("GET", _shape(files.full_path))
            other = routes.get(key)
            if other is not None:
                problems.add(files.location, f"Files {files.full_path!r} of service "
                             f"{svc.name!r} collides with a route of {other}")
            routes[key] = f"the files of service {svc.name!r}"
    _check_servers(api, problems)


def _shape(path: str) -> str:
    return "/".join(("{*}" if s.startswith("{*") else "{}") if s.startswith("{") else s
                    for s in path.split("/"))


def _error_mapping(m: MethodExpr, name: str) -> HTTPErrorExpr | None:
    for mapping in (m.http, m.service.http, m.service.api.http):
        if mapping is not None:
            for em in mapping.errors:
                if em.name == name:
                    return em
    return None


def _check_map_params(m: MethodExpr, http: HTTPMethodExpr, problems: Problems) -> None:
    if http.map_params is None:
        return
    where = http.map_params_at or http.location
    if http.map_params == "":
        target = m.payload
        if target is None or not isinstance(target.type, MapExpr):
            problems.add(where, f"{m.qualified}: MapParams() maps the query string to the whole "
                         "payload, which must then be a MapOf(K, V); name a map attribute "
                         "with MapParams('attr') otherwise")
            return
        if http.params or any(r.params for r in http.routes):
            problems.add(where, f"{m.qualified}: MapParams() takes the whole query string: "
                         "no other parameter can be mapped")
    else:
        obj = m.payload.object if m.payload is not None else None
        target = obj.attributes.get(http.map_params) if obj is not None else None
        if target is None or not isinstance(target.type, MapExpr):
            problems.add(where, f"{m.qualified}: MapParams({http.map_params!r}) needs a payload "
                         "attribute of type MapOf(K, V)")
            return
        if http.map_params in http.mapped_at:
            problems.add(where, f"{m.qualified}: {http.map_params!r} is mapped twice (first at "
                         f"{http.mapped_at[http.map_params]})")
    t = target.type
    if isinstance(t, MapExpr):
        elem = t.elem.type
        elem_ok = _kind(elem) in ("string", "integer", "number", "boolean") or (
            isinstance(elem, ArrayExpr)
            and _kind(elem.elem.type) in ("string", "integer", "number", "boolean"))
        if _kind(t.key.type) not in ("string", "integer", "number", "boolean") or not elem_ok:
            problems.add(where, f"{m.qualified}: MapParams needs a map of primitives (or of "
                         f"arrays of primitives), not {t.name}")


def _check_required(m: MethodExpr, http: HTTPMethodExpr, problems: Problems) -> None:
    for name, where in http.required.items():
        if name not in http.params and name not in http.headers and name not in http.cookies:
            problems.add(where, f"{m.qualified}: Required({name!r}) in a Params or Headers "
                         "block names no parameter or header mapped there")


def _check_cookies(
    m: MethodExpr, response: HTTPResponseExpr, value: AttributeExpr | None, problems: Problems
) -> None:
    obj = value.object if value is not None else None
    for attr in response.cookies:
        a = obj.attributes.get(attr) if obj is not None else None
        if a is not None and _kind(a.type) not in ("string", "integer", "number", "boolean"):
            problems.add(response.mapped_at.get(attr, response.location), f"{m.qualified}: "
                         f"cookie {attr!r} must be a primitive, not {a.type_name()}")
    if response.cookie_attributes and not response.cookies:
        problems.add(response.location, f"{m.qualified}: Cookie attributes (CookieMaxAge...) "
                     "are set on a Response that writes no Cookie")


def _check_error_response(
    m: MethodExpr, e: ErrorExpr, response: HTTPResponseExpr, problems: Problems
) -> None:
    t = e.type if e.type is not None else ERROR_RESULT
    obj = t.attribute.object if isinstance(t, UserTypeExpr) else (
        t if isinstance(t, ObjectExpr) else None)
    attrs = obj.attributes if obj is not None else {}
    label = f"{m.qualified}: the Response of error {e.name!r}"
    for attr in [*response.headers, *response.cookies, *([response.body] if response.body
                                                          else [])]:
        if attr not in attrs:
            problems.add(response.mapped_at.get(attr, response.location), f"{label} maps "
                         f"{attr!r}, which its type {t.describe()} does not have "
                         f"(attributes: {', '.join(attrs) or 'none'})")
    if response.tag is not None:
        name, _ = response.tag
        a = attrs.get(name)
        if a is None or _kind(a.type) != "string":
            problems.add(response.tag_location or response.location, f"{label}: Tag({name!r}, "
                         "...) needs a String attribute of the error's type")
    value = AttributeExpr(e.name, t, e.location)
    _check_cookies(m, response, value, problems)


def _check_servers(api: APIExpr, problems: Problems) -> None:
    for server in api.server_defs:
        for name in server.services:
            if name not in api.services:
                problems.add(server.services_at or server.location, f"server {server.name!r} "
                             f"hosts service {name!r}, which the design does not declare")
        if not server.hosts:
            problems.add(server.location, f"server {server.name!r} declares no Host")
        for host in server.hosts:
            label = f"host {host.name!r} of server {server.name!r}"
            if not host.uris:
                problems.add(host.location, f"{label} declares no URI")
            used = {v for uri in host.uris for v in _VARIABLE.findall(uri)}
            for v in sorted(used - set(host.variables)):
                problems.add(host.location, f"{label}: URI variable {{{v}}} is not declared "
                             "with Variable")
            for v, attr in host.variables.items():
                if not attr.has_default and not attr.enum:
                    problems.add(attr.location, f"{label}: variable {v!r} needs a default or "
                                 "an enum")
                elif attr.has_default and attr.enum and attr.default not in attr.enum:
                    problems.add(attr.location, f"{label}: the default of variable {v!r} is "
                                 "not one of its enum values")
                if v not in used:
                    problems.add(attr.location, f"{label}: variable {v!r} is used by no URI")
