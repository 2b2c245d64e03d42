"""The DSL's security: schemes, OAuth2 flows, requirements, `NoSecurity`, `RateLimit`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bastion.dsl._state import _fail, _need, _state
from bastion.dsl.expr import (
    APIExpr,
    FlowExpr,
    Location,
    MethodExpr,
    RateLimitExpr,
    RequirementExpr,
    SchemeExpr,
    SchemeKind,
    ServiceExpr,
)

# ---------------------------------------------------------------------------- security


def _scheme(
    name: str,
    kind: SchemeKind,
    description: str | None,
    scopes: dict[str, str] | None,
    flows: Iterable[FlowExpr] = (),
) -> SchemeExpr:
    where = Location.here()
    scheme = SchemeExpr(
        name=name,
        kind=kind,
        location=where,
        description=description,
        scopes=dict(scopes or {}),
        flows=list(flows),
    )
    design = _state.design
    if design is not None and (_state.stack or design.location.file == where.file):
        # Inside the API block, or after it in the same design file: it is this design's.
        design.schemes.setdefault(name, scheme)
    else:
        # Declared before any API (often in a module of its own): the next API declared in
        # the same file adopts it; any design that uses it by object gets it then.
        _state.pending_schemes.append(scheme)
    return scheme


def BasicAuthSecurity(name: str, description: str | None = None) -> SchemeExpr:
    """Declare an HTTP Basic auth scheme."""
    return _scheme(name, SchemeKind.BASIC, description, None)


def APIKeySecurity(
    name: str, description: str | None = None, *, rate_limit: str | None = None
) -> SchemeExpr:
    """Declare an API key scheme; `rate_limit` ("100/minute") limits requests per key."""
    scheme = _scheme(name, SchemeKind.APIKEY, description, None)
    if rate_limit is not None:
        if not _RATE.match(rate_limit.strip()):
            raise _fail(scheme.location, f"rate limit {rate_limit!r} must read like '100/minute'")
        scheme.rate_limit = rate_limit.strip()
    return scheme


def JWTSecurity(
    name: str, description: str | None = None, scopes: dict[str, str] | None = None
) -> SchemeExpr:
    """Declare a JWT bearer scheme with the scopes it may grant."""
    return _scheme(name, SchemeKind.JWT, description, scopes)


def OAuth2Security(
    name: str,
    description: str | None = None,
    flows: Iterable[FlowExpr] = (),
    scopes: dict[str, str] | None = None,
) -> SchemeExpr:
    """Declare an OAuth2 scheme with its flows and scopes."""
    return _scheme(name, SchemeKind.OAUTH2, description, scopes, flows)


def AuthorizationCodeFlow(authorize_url: str, token_url: str, refresh_url: str | None = None) -> (
    FlowExpr
):
    """An OAuth2 authorization code flow."""
    return FlowExpr("authorization_code", authorize_url, token_url, refresh_url)


def ImplicitFlow(authorize_url: str, refresh_url: str | None = None) -> FlowExpr:
    """An OAuth2 implicit flow."""
    return FlowExpr("implicit", authorize_url, None, refresh_url)


def PasswordFlow(token_url: str, refresh_url: str | None = None) -> FlowExpr:
    """An OAuth2 resource owner password flow."""
    return FlowExpr("password", None, token_url, refresh_url)


def ClientCredentialsFlow(token_url: str, refresh_url: str | None = None) -> FlowExpr:
    """An OAuth2 client credentials flow."""
    return FlowExpr("client_credentials", None, token_url, refresh_url)


def Security(*schemes: SchemeExpr | str, scopes: Iterable[str] = ()) -> None:
    """Require all of `schemes` (with `scopes`) on the enclosing API, service or method.

    Several `Security` calls at one level are alternatives: any one passing is enough.
    """
    where = Location.here()
    top = _need((APIExpr, ServiceExpr, MethodExpr), "Security", where, "API, Service or Method")
    if not schemes:
        raise _fail(where, "Security needs at least one scheme")
    top.requirements.append(RequirementExpr(list(schemes), list(scopes), where))


def NoSecurity() -> None:
    """Make the enclosing method public, whatever the API or service requires."""
    where = Location.here()
    m = _need((MethodExpr,), "NoSecurity", where, "Method")
    m.no_security = where


def RateLimit(limit: str) -> None:
    """Limit requests to the enclosing method (or service), e.g. `RateLimit("100/minute")`.

    Counted per API key when the method is secured by one, else per client address.
    """
    where = Location.here()
    top = _need((ServiceExpr, MethodExpr), "RateLimit", where, "Service or Method")
    if not _RATE.match(limit.strip()):
        raise _fail(where, f"rate limit {limit!r} must read like '100/minute' or '10 per second'")
    top.rate_limit = RateLimitExpr(limit.strip(), where)


_RATE = re.compile(
    r"^\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day|month|year)s?$", re.IGNORECASE
)

