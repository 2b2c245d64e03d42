"""Finalize a design: resolve type references, apply HTTP defaults, check everything.

Every problem found is reported at once, in one `DesignError`, each line naming the
element, what is wrong, and the user's file:line.
"""

from __future__ import annotations

import re

from bastion.dsl._grpc_check import check_grpc
from bastion.dsl._interceptors import check_interceptors
from bastion.dsl._problems import Problems as _Problems
from bastion.dsl._resolve import apply_bases, default_types, inline_named, resolve_names
from bastion.dsl._views import check_views, project_results
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    HTTPMethodExpr,
    Location,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    Primitive,
    SchemeExpr,
    SchemeKind,
    UnionExpr,
    UserTypeExpr,
)

_FORMATS = frozenset(
    {"uuid", "email", "date", "date-time", "uri", "ipv4", "ipv6", "ip", "hostname", "regexp",
     "mac", "cidr", "json", "rfc1123"}
)
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_PARAM = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}$")


def finalize(api: APIExpr) -> None:
    """Resolve, default and check `api` in place; raise `DesignError` listing every problem."""
    from bastion.dsl._bodies import check_bodies
    from bastion.dsl._check_http import check_extras, check_http_extras, prepare_http
    from bastion.dsl._streams import check_streams, prepare_streams

    problems = _Problems()
    if api.default and not api.name:
        # Goa's default API is named after the design's first service.
        api.name = next(iter(api.services), "api")
    resolve_names(api, problems)
    problems.raise_if_any()  # later steps walk resolved types only
    apply_bases(api, problems)
    default_types(api)
    check_views(api, problems)
    problems.raise_if_any()
    project_results(api, problems)
    inline_named(api, problems)
    problems.raise_if_any()

    for ut in api.types.values():
        _check_attr(ut.attribute, f"type {ut.name!r}", problems)
    for m in api.methods():
        if m.payload is not None:
            _check_attr(m.payload, f"payload of {m.qualified}", problems)
        if m.result is not None:
            _check_attr(m.result, f"result of {m.qualified}", problems)
        if m.streaming_payload is not None:
            _check_attr(m.streaming_payload, f"streaming payload of {m.qualified}", problems)
    check_extras(api, problems)
    _check_security(api, problems)
    prepare_streams(api, problems)
    prepare_http(api, problems)
    _check_http(api, problems)
    check_streams(api, problems)
    check_http_extras(api, problems)
    check_grpc(api, problems)
    check_interceptors(api, problems)
    check_bodies(api, problems)
    problems.raise_if_any()


# ---------------------------------------------------------------------------- types


def _kind(t: DataType | None) -> str:
    if isinstance(t, Primitive):
        return t.kind
    if isinstance(t, ArrayExpr):
        return "array"
    if isinstance(t, MapExpr):
        return "map"
    if isinstance(t, UnionExpr):
        return "union"
    return "object"


def _check_attr(root: AttributeExpr, owner: str, problems: _Problems) -> None:
    # User types nested in `root` are checked once, on their own, so stop at them.
    stack = [root]
    while stack:
        attr = stack.pop()
        t = attr.type
        _check_validations(attr, owner, problems)
        if isinstance(t, UserTypeExpr):
            continue
        if isinstance(t, ObjectExpr):
            for name in t.required:
                if name not in t.attributes:
                    have = ", ".join(t.attributes) or "none"
                    problems.add(
                        t.required_at.get(name, attr.location),
                        f"{owner}: Required names {name!r}, which is not an attribute "
                        f"(attributes: {have})",
                    )
            stack.extend(reversed(t.attributes.values()))
        elif isinstance(t, ArrayExpr):
            stack.append(t.elem)
        elif isinstance(t, MapExpr):
            stack.extend((t.elem, t.key))
        elif isinstance(t, UnionExpr):
            if not t.alternatives:
                problems.add(t.location or attr.location, f"{owner}: OneOf {t.name!r} "
                             "declares no alternative")
            stack.extend(reversed(t.alternatives.values()))


def _check_validations(attr: AttributeExpr, owner: str, problems: _Problems) -> None:
    kind = _kind(attr.type)
    label = f"{owner}: attribute {attr.name!r} ({attr.type_name()})"
    where = attr.location
    numeric = kind in ("integer", "number")
    sized = kind in ("string", "bytes", "array", "map")
    for opt in ("minimum", "maximum", "exclusive_minimum", "exclusive_maximum"):
        if getattr(attr, opt) is not None and not numeric:
            problems.add(where, f"{label}: {opt} applies to numbers only")
    for opt in ("min_length", "max_length"):
        value = getattr(attr, opt)
        if value is not None and (not sized or not isinstance(value, int) or value < 0):
            problems.add(where, f"{label}: {opt} needs a string, bytes, array or map "
                         "and a non-negative integer")
    if attr.pattern is not None:
        if kind != "string":
            problems.add(where, f"{label}: pattern applies to strings only")
        else:
            try:
                re.compile(attr.pattern)
            except re.error as exc:
                problems.add(where, f"{label}: pattern {attr.pattern!r} is not a regexp: {exc}")
    if attr.format is not None:
        if kind != "string":
            problems.add(where, f"{label}: format applies to strings only")
        elif attr.format not in _FORMATS:
            problems.add(where, f"{label}: unknown format {attr.format!r} "
                         f"(known: {', '.join(sorted(_FORMATS))})")
    if attr.minimum is not None and attr.maximum is not None and attr.minimum > attr.maximum:
        problems.add(where, f"{label}: minimum {attr.minimum} is above maximum {attr.maximum}")
    if (
        attr.min_length is not None
        and attr.max_length is not None
        and attr.min_length > attr.max_length
    ):
        problems.add(where, f"{label}: min_length is above max_length")
    if attr.enum is not None:
        if kind not in ("string", "integer", "boolean"):
            problems.add(where, f"{label}: enum applies to strings, integers and booleans")
        elif not attr.enum:
            problems.add(where, f"{label}: enum needs at least one value")
        else:
            for v in attr.enum:
                if not _fits(kind, v):
                    problems.add(where, f"{label}: enum value {v!r} is not a {kind}")
    if attr.has_default and attr.default is not None and not _fits(kind, attr.default):
        problems.add(where, f"{label}: default {attr.default!r} is not a {kind}")
    if attr.has_default and attr.enum is not None and attr.default not in attr.enum:
        problems.add(where, f"{label}: default {attr.default!r} is not one of the enum values")


def _fits(kind: str, value: object) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list | tuple)
    if kind in ("map", "object"):
        return isinstance(value, dict)
    return True


# ---------------------------------------------------------------------------- security


def _check_security(api: APIExpr, problems: _Problems) -> None:
    # Schemes used by object are part of the design even if declared before another API.
    levels = [api.requirements]
    levels += [s.requirements for s in api.services.values()]
    levels += [m.requirements for m in api.methods()]
    for reqs in levels:
        for req in reqs:
            resolved: list[SchemeExpr | str] = []
            for s in req.schemes:
                if isinstance(s, SchemeExpr):
                    known = api.schemes.setdefault(s.name, s)
                    if known is not s:
                        problems.add(
                            req.location,
                            f"two different schemes are named {s.name!r} "
                            f"(declared at {known.location} and {s.location})",
                        )
                    resolved.append(s)
                elif s in api.schemes:
                    resolved.append(api.schemes[s])
                else:
                    known_names = ", ".join(sorted(api.schemes)) or "none"
                    problems.add(
                        req.location,
                        f"Security uses scheme {s!r}, which is never declared "
                        f"(declared schemes: {known_names})",
                    )
            req.schemes = resolved
            for scope in req.scopes:
                for s in resolved:
                    if isinstance(s, SchemeExpr) and s.kind.has_scopes and (
                        scope not in s.scopes
                    ):
                        problems.add(
                            req.location,
                            f"Security requires scope {scope!r}, which scheme {s.name!r} does not "
                            f"declare (declared: {', '.join(s.scopes) or 'none'})",
                        )
                if resolved and all(
                    isinstance(s, SchemeExpr) and not s.kind.has_scopes for s in resolved
                ):
                    problems.add(
                        req.location,
                        f"Security requires scope {scope!r}, but basic and API key schemes "
                        "carry no declared scopes: use a JWT or OAuth2 scheme",
                    )
    for m in api.methods():
        if m.no_security is not None and m.requirements:
            problems.add(m.no_security, f"{m.qualified}: NoSecurity is combined with Security "
                         f"(at {m.requirements[0].location}); keep one")
        creds = m.credentials()
        for req in m.effective_requirements():
            for s in req.schemes:
                if not isinstance(s, SchemeExpr):
                    continue
                need = _needed_credentials(s)
                for kind in need:
                    if not any(
                        a.credential == kind
                        and (kind != "apikey" or a.credential_scheme in (None, s.name))
                        for a in creds.values()
                    ):
                        hint = _credential_hint(kind, s.name)
                        problems.add(
                            m.location,
                            f"{m.qualified} is secured by {s.kind} scheme {s.name!r} but its "
                            f"payload has no {kind} attribute: add {hint} to the Payload",
                        )
        for a in creds.values():
            if a.credential == "apikey" and a.credential_scheme not in api.schemes:
                problems.add(a.location, f"{m.qualified}: APIKey names scheme "
                             f"{a.credential_scheme!r}, which is never declared")


def _needed_credentials(s: SchemeExpr) -> tuple[str, ...]:
    return {
        SchemeKind.BASIC: ("username", "password"),
        SchemeKind.APIKEY: ("apikey",),
        SchemeKind.JWT: ("token",),
        SchemeKind.OAUTH2: ("accesstoken",),
    }[s.kind]


def _credential_hint(kind: str, scheme: str) -> str:
    return {
        "username": 'Username("user", String)',
        "password": 'Password("pass", String)',
        "apikey": f'APIKey("{scheme}", "key", String)',
        "token": 'Token("token", String)',
        "accesstoken": 'AccessToken("token", String)',
    }[kind]


# ---------------------------------------------------------------------------- HTTP


def _check_http(api: APIExpr, problems: _Problems) -> None:
    seen_routes: dict[tuple[str, str], tuple[MethodExpr, Location]] = {}
    for svc in api.services.values():
        for http in (svc.http, api.http):
            if http is not None:
                for em in http.errors:
                    declared = {e.name for e in [*svc.errors, *api.errors]}
                    declared |= {e.name for m in svc.methods.values() for e in m.errors}
                    if em.name not in declared:
                        problems.add(em.location, f"Response maps error {em.name!r}, which no "
                                     f"method of service {svc.name!r} declares")
        for m in svc.methods.values():
            if m.http is None:
                continue
            _check_method_http(api, m, m.http, problems)
            for r in m.http.routes:
                r.full_path = (api.path_prefix + svc.path_prefix + r.path) or "/"
                if len(r.full_path) > 1:
                    r.full_path = r.full_path.rstrip("/") or "/"
                shape = _route_shape(r.full_path, r.location, m, problems)
                key = (r.verb, shape)
                if key in seen_routes:
                    other, at = seen_routes[key]
                    problems.add(
                        r.location,
                        f"{m.qualified}: route {r.verb} {r.full_path} collides with a route of "
                        f"{other.qualified} (at {at})",
                    )
                else:
                    seen_routes[key] = (m, r.location)
                _check_route_params(m, r.full_path, r.location, problems)
                if r.verb in _BODYLESS and _body_attributes(m, m.http):
                    names = ", ".join(_body_attributes(m, m.http))
                    problems.add(
                        r.location,
                        f"{m.qualified}: {r.verb} {r.full_path} cannot have a body, but payload "
                        f"attribute(s) {names} are not mapped to the path, a query Param, a "
                        "Header or a Cookie",
                    )


def _route_shape(path: str, where: Location, m: MethodExpr, problems: _Problems) -> str:
    segs = path.split("/")
    out = []
    for i, seg in enumerate(segs):
        if "{" in seg or "}" in seg:
            match = _PARAM.match(seg)
            if match is None:
                problems.add(where, f"{m.qualified}: path segment {seg!r} must be a whole "
                             "'{name}' or '{*name}' segment")
                out.append(seg)
                continue
            if match.group(1) and i != len(segs) - 1:
                problems.add(where, f"{m.qualified}: wildcard {seg!r} must be the last segment")
            out.append("{*}" if match.group(1) else "{}")
        else:
            out.append(seg)
    return "/".join(out)


def _payload_attrs(m: MethodExpr) -> dict[str, AttributeExpr]:
    obj = m.payload.object if m.payload is not None else None
    return dict(obj.attributes) if obj is not None else {}


def _check_route_params(m: MethodExpr, path: str, where: Location, problems: _Problems) -> None:
    attrs = _payload_attrs(m)
    for seg in path.split("/"):
        match = _PARAM.match(seg)
        if match is None:
            continue
        name = match.group(2)
        if name not in attrs:
            have = ", ".join(attrs) or "none"
            problems.add(where, f"{m.qualified}: path parameter {name!r} is not a payload "
                         f"attribute (attributes: {have})")
        elif _kind(attrs[name].type) not in ("string", "integer", "number", "boolean"):
            problems.add(where, f"{m.qualified}: path parameter {name!r} must be a primitive, "
                         f"not {attrs[name].type_name()}")


def _path_params(m: MethodExpr) -> set[str]:
    out: set[str] = set()
    prefix = m.service.api.path_prefix + m.service.path_prefix
    if m.http is not None:
        for r in m.http.routes:
            for seg in (prefix + r.path).split("/"):
                match = _PARAM.match(seg)
                if match is not None:
                    out.add(match.group(2))
    return out


def _body_attributes(m: MethodExpr, http: HTTPMethodExpr) -> list[str]:
    """Payload attributes the request body carries."""
    if m.payload is None or http.map_params == "":
        return []
    if http.body is not None:
        return [http.body]
    if m.payload.object is None:
        return [m.payload.name]  # a non-object payload is the body
    mapped = set(http.params) | set(http.headers) | set(http.cookies) | set(http.authorization)
    mapped |= _path_params(m)
    if http.map_params:
        mapped.add(http.map_params)
    return [n for n in _payload_attrs(m) if n not in mapped]


def _check_method_http(
    api: APIExpr, m: MethodExpr, http: HTTPMethodExpr, problems: _Problems
) -> None:
    attrs = _payload_attrs(m)
    if not http.routes:
        problems.add(http.location, f"{m.qualified}: HTTP block declares no route "
                     "(add GET(...), POST(...), ...)")
    for table, fn in ((http.params, "Param"), (http.headers, "Header"), (http.cookies, "Cookie")):
        for attr in table:
            if attr not in attrs:
                problems.add(http.mapped_at.get(attr, http.location),
                             f"{m.qualified}: {fn} maps {attr!r}, which is not a payload "
                             f"attribute (attributes: {', '.join(attrs) or 'none'})")
            elif _kind(attrs[attr].type) in ("object", "map"):
                problems.add(http.mapped_at.get(attr, http.location),
                             f"{m.qualified}: {fn} cannot carry {attr!r} of type "
                             f"{attrs[attr].type_name()}")
    path_params = _path_params(m)
    for attr in path_params & (set(http.params) | set(http.headers) | set(http.cookies)):
        problems.add(http.mapped_at[attr], f"{m.qualified}: attribute {attr!r} is both a path "
                     "parameter and mapped elsewhere")
    if http.body is not None and http.body not in attrs:
        problems.add(http.body_location or http.location, f"{m.qualified}: Body names "
                     f"{http.body!r}, which is not a payload attribute "
                     f"(attributes: {', '.join(attrs) or 'none'})")
    # Credentials with no explicit mapping are read from the Authorization header (Basic,
    # bearer) or the X-API-Key header, as docs/security.md documents for users.
    # Basic and bearer credentials may share Authorization: its scheme word says which
    # one a request carries, so `Security(jwt)` and `Security(basic)` can be alternatives.
    for name, a in attrs.items():
        if (
            a.credential in ("token", "accesstoken")
            and http.headers.get(name, "").lower() == "authorization"
        ):
            # Mapped to Authorization explicitly: still a bearer token ("Bearer " stripped).
            del http.headers[name]
            http.authorization[name] = "bearer"
            continue
        if a.credential is None or name in http.mapped_at or name in path_params:
            continue
        if a.credential in ("token", "accesstoken"):
            http.authorization[name] = "bearer"
        elif a.credential == "username":
            http.authorization[name] = "basic-username"
        elif a.credential == "password":
            http.authorization[name] = "basic-password"
        else:
            http.headers[name] = "X-API-Key"
    by_header: dict[str, str] = {}
    for attr, wire in http.headers.items():
        other = by_header.setdefault(wire.lower(), attr)
        if other != attr:
            problems.add(http.mapped_at.get(attr, m.location),
                         f"{m.qualified}: attributes {other!r} and {attr!r} are both read from "
                         f"header {wire!r}; map one elsewhere with Header(...), Param(...) or "
                         "Cookie(...)")
    declared = {e.name for e in m.all_errors()}
    for em in http.errors:
        if em.name not in declared:
            problems.add(em.location, f"{m.qualified}: Response maps error {em.name!r}, which the "
                         "method does not declare (declared: "
                         f"{', '.join(sorted(declared)) or 'none'})")
    for response in http.responses:
        if m.result is not None:
            robj = m.result.object
            rattrs = robj.attributes if robj is not None else {}
            mapped = [*response.headers, *response.cookies,
                      *([response.body] if response.body else [])]
            for attr in mapped:
                if attr not in rattrs:
                    problems.add(response.mapped_at.get(attr, response.location),
                                 f"{m.qualified}: Response maps result attribute {attr!r}, "
                                 "which the result does not have")
        if response.status in (204, 304) and m.result is not None and not response.body_empty \
                and (response.body or not (response.headers or response.cookies)):
            problems.add(response.location, f"{m.qualified}: status {response.status} "
                         "has no body, but the result would be written as one; map the "
                         "result to headers or use another status")
        if m.result is None and (response.headers or response.cookies or response.tag):
            problems.add(response.location, f"{m.qualified}: Response maps headers, cookies "
                         "or a Tag but the method has no Result")
