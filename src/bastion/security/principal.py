"""Who is calling: the `Principal` value and the context variables set around a call.

The variables are `ContextVar`s, not shared state: each request runs in its own context,
so two apps (or two requests) in one process never see each other's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bastion.security.errors import NoPrincipalError

__all__ = [
    "Principal",
    "client_address",
    "normalize_scopes",
    "principal",
    "principals",
    "set_client_address",
]


def normalize_scopes(scopes: object) -> frozenset[str] | None:
    """Return `scopes` as a set of names, or None when it cannot be read as scopes.

    A string is split on whitespace (the OAuth2 `scope` format): testing membership in a
    plain string would match substrings, so `"api:read" in "api:readonly"` must never be
    the check.
    """
    if scopes is None:
        return None
    if isinstance(scopes, str):
        return frozenset(scopes.split())
    if isinstance(scopes, frozenset) and all(isinstance(s, str) for s in scopes):
        return scopes
    if isinstance(scopes, Iterable) and not isinstance(scopes, bytes | Mapping):
        items = list(scopes)
        if all(isinstance(s, str) for s in items):
            return frozenset(items)
    return None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a subject, its granted scopes and the claims behind them.

    Auth handlers may return any object with a `scopes` attribute instead; this one is what
    Bastion's verifiers return. `claims` is read-only and kept out of `repr`.
    """

    subject: str
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)

    def __post_init__(self) -> None:
        scopes = normalize_scopes(self.scopes)
        if scopes is None:
            raise TypeError("Principal.scopes must be an iterable of strings")
        object.__setattr__(self, "scopes", scopes)
        if not isinstance(self.claims, MappingProxyType):
            object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))


@dataclass(frozen=True, slots=True)
class _Call:
    # The principal of the first scheme of the requirement that passed, and all of them.
    principal: Any
    by_scheme: Mapping[str, Any]


_call: ContextVar[_Call | None] = ContextVar("bastion.security.call", default=None)

#: The caller's network address, set by the transport for each request (None if unknown).
client_address: ContextVar[str | None] = ContextVar("bastion.client_address", default=None)


def set_client_address(address: str | None) -> Token[str | None]:
    """Record the caller's address for this request; returns the token to reset it."""
    return client_address.set(address)


def principal() -> Any:
    """Return the principal of the secured method call in progress.

    When a requirement combines several schemes, this is the principal returned by its
    first scheme; `principals()` returns all of them.
    """
    call = _call.get()
    if call is None:
        raise NoPrincipalError(
            "principal() was called outside a secured method call: it is set only while a "
            "method with security requirements runs (public methods have no principal)"
        )
    return call.principal


def principals() -> Mapping[str, Any]:
    """Return the principals of the call in progress, by scheme name."""
    call = _call.get()
    if call is None:
        raise NoPrincipalError(
            "principals() was called outside a secured method call: it is set only while a "
            "method with security requirements runs (public methods have no principal)"
        )
    return call.by_scheme


def _enter(first: Any, by_scheme: Mapping[str, Any]) -> Token[_Call | None]:
    # Used by the enforcer only: sets the principal for the duration of the method call.
    return _call.set(_Call(first, MappingProxyType(dict(by_scheme))))


def _leave(token: Token[_Call | None]) -> None:
    _call.reset(token)
