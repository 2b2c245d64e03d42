"""Security schemes and requirements of a design, as OpenAPI writes them."""

from __future__ import annotations

import re
from typing import Any

from bastion.dsl.expr import (
    APIExpr,
    AttributeExpr,
    MethodExpr,
    RequirementExpr,
    SchemeExpr,
    SchemeKind,
)

# Where an API key travels when no method says otherwise (the DSL's default mapping).
_DEFAULT_APIKEY = ("header", "X-API-Key")
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]")
_FLOW_KEYS = {
    "authorization_code": "authorizationCode",
    "implicit": "implicit",
    "password": "password",
    "client_credentials": "clientCredentials",
}


class SecurityDoc:
    """The security part of one spec: scheme names, API key locations, requirements."""

    def __init__(self, api: APIExpr) -> None:
        self.api = api
        used: list[SchemeExpr] = []
        levels = [api.requirements, *(s.requirements for s in api.services.values())]
        levels += [m.requirements for m in api.methods()]
        for reqs in levels:
            for req in reqs:
                for s in _schemes(req):
                    if s not in used:
                        used.append(s)
        # Declaration order reads better than first use; schemes only used, never declared
        # on the API, follow.
        ordered = [s for s in api.schemes.values() if s in used]
        ordered += [s for s in used if s not in ordered]
        self.names: dict[SchemeExpr, str] = {}
        taken: set[str] = set()
        for s in ordered:
            base = _NAME_OK.sub("_", s.name) or "scheme"
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}_{n}"
            taken.add(name)
            self.names[s] = name
        self.apikey_wire = {s: self._apikey_wire(s) for s in ordered if s.kind is SchemeKind.APIKEY}

    # ------------------------------------------------------------------ components

    def schemes(self) -> dict[str, Any]:
        """`components.securitySchemes`: one entry per scheme some requirement uses."""
        return {name: self._scheme(s) for s, name in self.names.items()}

    def _scheme(self, s: SchemeExpr) -> dict[str, Any]:
        out: dict[str, Any]
        if s.kind is SchemeKind.BASIC:
            out = {"type": "http", "scheme": "basic"}
        elif s.kind is SchemeKind.JWT:
            out = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        elif s.kind is SchemeKind.APIKEY:
            where, name = self.apikey_wire[s]
            out = {"type": "apiKey", "in": where, "name": name}
        else:
            flows: dict[str, Any] = {}
            for f in s.flows:
                flow: dict[str, Any] = {}
                if f.authorize_url is not None:
                    flow["authorizationUrl"] = f.authorize_url
                if f.token_url is not None:
                    flow["tokenUrl"] = f.token_url
                if f.refresh_url is not None:
                    flow["refreshUrl"] = f.refresh_url
                flow["scopes"] = dict(s.scopes)
                flows[_FLOW_KEYS[f.kind]] = flow
            out = {"type": "oauth2", "flows": flows}
        description = s.description or ""
        if s.kind is SchemeKind.JWT and s.scopes:
            # HTTP schemes have no place for scopes: list them where readers look.
            lines = "\n".join(f"- `{k}`: {v}" for k, v in s.scopes.items())
            description = f"{description}\n\nScopes:\n{lines}".strip()
        if description:
            out["description"] = description
        return out

    def _apikey_wire(self, s: SchemeExpr) -> tuple[str, str]:
        # OpenAPI gives a scheme one location: take the first method that uses it.
        for m in self.api.methods():
            if m.http is None or s not in self.method_schemes(m):
                continue
            for name, a in _payload_attrs(m).items():
                if a.credential == "apikey" and a.credential_scheme == s.name:
                    wire = _wire(m, name)
                    if wire is not None:
                        return wire
        return _DEFAULT_APIKEY

    # ------------------------------------------------------------------ requirements

    def method_schemes(self, m: MethodExpr) -> list[SchemeExpr]:
        """Every scheme any of `m`'s effective requirements names."""
        out: list[SchemeExpr] = []
        for req in m.effective_requirements():
            for s in _schemes(req):
                if s not in out:
                    out.append(s)
        return out

    def requirements(self, reqs: list[RequirementExpr]) -> list[dict[str, list[str]]]:
        """OpenAPI `security`: one object per alternative, each naming all its schemes."""
        out: list[dict[str, list[str]]] = []
        for req in reqs:
            item: dict[str, list[str]] = {}
            for s in _schemes(req):
                scopes = list(req.scopes) if s.kind.has_scopes else []
                item[self.names[s]] = scopes
            if item not in out:
                out.append(item)
        return out

    def carried(self, m: MethodExpr, name: str, attr: AttributeExpr) -> bool:
        """True when the security scheme documents attribute `name` of `m`'s payload."""
        http = m.http
        if http is None or attr.credential is None:
            return False
        if name in http.authorization:
            return True  # the `Authorization` header: basic or bearer schemes describe it
        if attr.credential != "apikey":
            return False
        for s in self.method_schemes(m):
            if s.kind is SchemeKind.APIKEY and s.name == attr.credential_scheme:
                # Only where the scheme says the key is: elsewhere it stays a parameter.
                return _same_wire(_wire(m, name), self.apikey_wire.get(s))
        return False

    def rate_limited(self, m: MethodExpr) -> bool:
        """True when a rate limit applies to `m` (method, service, or its API key scheme)."""
        if m.rate_limit is not None or m.service.rate_limit is not None:
            return True
        return any(s.kind is SchemeKind.APIKEY and s.rate_limit for s in self.method_schemes(m))


def _schemes(req: RequirementExpr) -> list[SchemeExpr]:
    # After finalize every entry is a SchemeExpr; names that failed to resolve raised.
    return [s for s in req.schemes if isinstance(s, SchemeExpr)]


def _payload_attrs(m: MethodExpr) -> dict[str, AttributeExpr]:
    obj = m.payload.object if m.payload is not None else None
    return obj.attributes if obj is not None else {}


def _same_wire(a: tuple[str, str] | None, b: tuple[str, str] | None) -> bool:
    if a is None or b is None or a[0] != b[0]:
        return False
    # Header names are case-insensitive; query and cookie names are not.
    return a[1].lower() == b[1].lower() if a[0] == "header" else a[1] == b[1]


def _wire(m: MethodExpr, name: str) -> tuple[str, str] | None:
    http = m.http
    if http is None:
        return None
    if name in http.headers:
        return ("header", http.headers[name])
    if name in http.params:
        return ("query", http.params[name])
    if name in http.cookies:
        return ("cookie", http.cookies[name])
    return None
