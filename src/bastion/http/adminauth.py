"""Protect the debug endpoints and `/metrics` with a security scheme of the design.

Used when they are mounted on the public port (`App(debug_mount="main",
debug_scheme="jwt", debug_scopes=["debug"])`), and to decide who may ask for debug logs
for a single request (`X-Debug-Logs: on`).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bastion.dsl.expr import SchemeExpr
from bastion.errors import Forbidden, Unauthorized
from bastion.security import Scheme, handlers_for
from bastion.security.principal import normalize_scopes
from bastion.types import Scope

__all__ = ["scheme_authorizer"]

_log = logging.getLogger("bastion.security")


def _credential(kind: str, headers: Mapping[bytes, bytes]) -> tuple[str, ...] | None:
    if kind == "apikey":
        key = headers.get(b"x-api-key")
        return (key.decode("latin-1"),) if key else None
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, value = auth.partition(" ")
    if kind == "basic":
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None
    return (value.strip(),) if scheme.lower() == "bearer" and value.strip() else None


def scheme_authorizer(
    scheme: SchemeExpr,
    scopes: tuple[str, ...],
    services: Mapping[str, object],
    realm: str,
) -> Callable[[Scope], Awaitable[bool]]:
    """Return `authorize(scope)`: whether the request passes `scheme` with `scopes`."""
    handler: Any = None
    for name, impl in services.items():
        try:
            handler = handlers_for(impl, {scheme.kind}, service_name=name)[scheme.kind]
            break
        except Exception:
            continue
    if handler is None:
        raise Unauthorized(
            f"no service implements the auth handler of scheme {scheme.name!r}"
        )
    runtime = Scheme(scheme.name, scheme.kind, scheme.description or "", tuple(scheme.scopes),
                     scopes)

    async def authorize(scope: Scope) -> bool:
        credential = _credential(scheme.kind, dict(scope["headers"]))
        if credential is None:
            return False
        try:
            result = handler(*credential, runtime)
            principal = await result if inspect.isawaitable(result) else result
        except (Unauthorized, Forbidden):
            return False
        except Exception:
            _log.exception("auth handler of scheme %s failed on a debug request", scheme.name)
            return False
        granted = normalize_scopes(getattr(principal, "scopes", None))
        if scopes and granted is None:
            return False
        return set(scopes) <= (granted or frozenset())

    return authorize
