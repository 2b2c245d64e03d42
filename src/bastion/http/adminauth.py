"""Protect the debug endpoints and `/metrics` with a security scheme of the design.

Used when they are mounted on the public port (`App(debug=Debug(mount="main",
scheme="jwt", scopes=("debug",)))`), and to decide who may ask for debug logs
for a single request (`X-Debug-Logs: on`). The credential is read from the request as the
API reads it (`Authorization` for Basic and bearer schemes, `X-API-Key` for API keys) and
checked by the API's own enforcer: the same auth handler (sync ones in a worker thread),
scope check, brute-force lockout and auth-failure reports as every method of the design.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from bastion.clientaddr import ClientAddress
from bastion.dsl.expr import SchemeExpr, SchemeKind
from bastion.endpoint import ImplementationError
from bastion.endpoint.threads import ThreadRunner
from bastion.http.credentials import basic_credentials, bearer_token
from bastion.security import (
    AuthFailure,
    RateLimited,
    RateLimiter,
    RateLimits,
    Requirement,
    SchemeRef,
    secure,
)
from bastion.security.design import scheme as runtime_scheme
from bastion.security.handlers import SIGNATURES, find_handler
from bastion.security.principal import client_address
from bastion.types import Scope

__all__ = ["METHOD", "SchemeGate"]

#: The method name the admin endpoints' refusals are reported under.
METHOD: Final = "bastion.debug"

_API_KEY_HEADER: Final = b"x-api-key"


async def _allowed(payload: Any) -> bool:
    return True


def _only(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    # The header's value when sent exactly once; twice is ambiguous, so no credential.
    values = [v for k, v in headers if k == name]
    return values[0].decode("latin-1") if len(values) == 1 else None


class SchemeGate:
    """Checks a request's credential against one scheme of the design, with `scopes`.

    `check(scope)` returns when the caller passes and raises the security layer's refusal
    otherwise (`Unauthorized`, `Forbidden`, `RateLimited`); calling the gate returns a
    bool instead for a lockout, as the debug switch's authorizers do.
    """

    def __init__(
        self,
        scheme: SchemeExpr,
        scopes: tuple[str, ...],
        services: Mapping[str, object],
        *,
        limiter: RateLimiter | None,
        limits: RateLimits | None,
        on_failure: Callable[[AuthFailure], None] | None = None,
        threads: ThreadRunner | None = None,
        client_address: ClientAddress | None = None,
    ) -> None:
        self.client_of = client_address or ClientAddress()
        handler = next(
            (h for h in (find_handler(impl, scheme.kind) for impl in services.values()) if h),
            None,
        )
        if handler is None:
            raise ImplementationError(
                f"Debug(scheme={scheme.name!r}): no service implements its auth handler; add "
                f"`{SIGNATURES[scheme.kind]}` to one of {sorted(services)}"
            )
        self.kind = scheme.kind
        credential: str | tuple[str, str] = (
            ("username", "password") if scheme.kind is SchemeKind.BASIC else "credential"
        )
        requirement = Requirement((SchemeRef(runtime_scheme(scheme), credential),), scopes)
        self._gate = secure(
            _allowed,
            (requirement,),
            {scheme.kind: handler},
            method_name=METHOD,
            on_failure=on_failure,
            limiter=limiter,
            limits=limits,
            threads=threads,
        )

    def _payload(self, headers: list[tuple[bytes, bytes]]) -> dict[str, str | None]:
        if self.kind is SchemeKind.APIKEY:
            return {"credential": _only(headers, _API_KEY_HEADER)}
        value = _only(headers, b"authorization")
        if value is None:
            return {}
        if self.kind is SchemeKind.BASIC:
            pair = basic_credentials(value)
            return {"username": pair[0], "password": pair[1]} if pair else {}
        return {"credential": bearer_token(value)}

    async def check(self, scope: Scope) -> None:
        """Return if the request passes the scheme; raise the refusal otherwise."""
        token = client_address.set(self.client_of(scope) or None)
        try:
            await self._gate(self._payload(scope["headers"]))
        finally:
            client_address.reset(token)

    async def __call__(self, scope: Scope) -> bool:
        """Whether the request passes; raises `Unauthorized` or `Forbidden` when it does not."""
        try:
            await self.check(scope)
        except RateLimited:
            return False
        return True
