"""From the design to the enforcer: each method's requirements and rate limits."""

from __future__ import annotations

from bastion.dsl.expr import APIExpr, MethodExpr, SchemeExpr, SchemeKind
from bastion.security.enforcer import RateLimits
from bastion.security.scheme import Requirement, Scheme, SchemeRef

__all__ = ["rate_limits", "requirements", "scheme", "scheme_kinds"]


_CREDENTIAL: dict[SchemeKind, str] = {
    SchemeKind.APIKEY: "apikey",
    SchemeKind.JWT: "token",
    SchemeKind.OAUTH2: "accesstoken",
}


def scheme(s: SchemeExpr, required_scopes: tuple[str, ...] = ()) -> Scheme:
    """The runtime `Scheme` of a design's scheme, as its auth handler receives it."""
    return Scheme.of(s.kind, s.name, s.description or "", tuple(s.scopes), required_scopes)


def _credential(m: MethodExpr, s: SchemeExpr) -> str | tuple[str, str]:
    obj = m.payload.object if m.payload is not None else None
    attrs = obj.attributes if obj is not None else {}
    # The payload Struct's field names (`Meta("struct:field:name")` may set them).
    if s.kind is SchemeKind.BASIC:
        user = next(a for a in attrs.values() if a.credential == "username")
        password = next(a for a in attrs.values() if a.credential == "password")
        return user.field_name, password.field_name
    want = _CREDENTIAL[s.kind]
    for a in attrs.values():
        if a.credential == want and (want != "apikey" or a.credential_scheme in (None, s.name)):
            return a.field_name
    raise LookupError(f"{m.qualified}: no credential for scheme {s.name!r}")  # finalize checks


def requirements(m: MethodExpr) -> tuple[Requirement, ...]:
    """The method's requirements (nearest level wins), as the enforcer takes them."""
    out = []
    for req in m.effective_requirements():
        refs = tuple(
            SchemeRef(scheme(s), _credential(m, s))
            for s in req.schemes
            if isinstance(s, SchemeExpr)
        )
        out.append(Requirement(refs, tuple(req.scopes)))
    return tuple(out)


def scheme_kinds(api: APIExpr, service: str) -> set[SchemeKind]:
    """The scheme kinds the methods of `service` use: the handlers it must implement."""
    return {
        s.kind
        for m in api.services[service].methods.values()
        for req in m.effective_requirements()
        for s in req.schemes
        if isinstance(s, SchemeExpr)
    }


def rate_limits(api: APIExpr, **overrides: object) -> RateLimits:
    """Request limits from the design: `RateLimit` on methods and services, and schemes'."""
    per_scheme = {s.name: s.rate_limit for s in api.schemes.values() if s.rate_limit}
    per_method = {}
    for m in api.methods():
        limit = m.rate_limit or m.service.rate_limit
        if limit is not None:
            per_method[f"{m.service.name}.{m.name}"] = limit.limit
    return RateLimits(per_scheme=per_scheme, per_method=per_method, **overrides)  # type: ignore[arg-type]
