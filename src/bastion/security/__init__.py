"""Bastion's security runtime: schemes, verifiers, scopes, auth failures and rate limits.

Transport-independent: the enforcer reads credentials from the payload, calls the
service's auth handlers, checks scopes and limits, and says why it refuses a call with a
typed exception (`bastion.Unauthorized`, `bastion.Forbidden`, `RateLimited`) or, for a call
it lets through, with the `rate_limit_decision` of its request limits. Each transport
renders those its own way (HTTP: `bastion.http.challenge`, `bastion.http.ratelimit`).
"""

from typing import TYPE_CHECKING, Any

from bastion.security.apikey import APIKeyStore
from bastion.security.basic import BasicVerifier, hash_password, verify_password
from bastion.security.enforcer import AuthFailure, RateLimits, secure
from bastion.security.errors import REASONS, NoPrincipalError, RateLimited
from bastion.security.handlers import HANDLER_NAMES, Handler, handlers_for
from bastion.security.principal import (
    Principal,
    client_address,
    principal,
    principals,
    set_client_address,
)
from bastion.security.ratelimit import (
    Decision,
    RateLimit,
    RateLimiter,
    rate_limit_decision,
)
from bastion.security.scheme import (
    APIKeyScheme,
    BasicScheme,
    JWTScheme,
    OAuth2Scheme,
    Requirement,
    Scheme,
    SchemeKind,
    SchemeRef,
)

if TYPE_CHECKING:
    from bastion.security.jwt import DEFAULT_ALGORITHMS, JWTVerifier

#: Imported on first use: PyJWT and cryptography only for services that verify JWTs.
_JWT_NAMES = frozenset({"DEFAULT_ALGORITHMS", "JWTVerifier"})

__all__ = [
    "DEFAULT_ALGORITHMS",
    "HANDLER_NAMES",
    "REASONS",
    "APIKeyScheme",
    "APIKeyStore",
    "AuthFailure",
    "BasicScheme",
    "BasicVerifier",
    "Decision",
    "Handler",
    "JWTScheme",
    "JWTVerifier",
    "NoPrincipalError",
    "OAuth2Scheme",
    "Principal",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "RateLimits",
    "Requirement",
    "Scheme",
    "SchemeKind",
    "SchemeRef",
    "client_address",
    "handlers_for",
    "hash_password",
    "principal",
    "principals",
    "rate_limit_decision",
    "secure",
    "set_client_address",
    "verify_password",
]


def __getattr__(name: str) -> Any:
    if name in _JWT_NAMES:
        from bastion.security import jwt

        return getattr(jwt, name)
    raise AttributeError(f"module 'bastion.security' has no attribute {name!r}")
