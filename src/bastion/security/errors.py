"""The failures the security runtime raises, carrying what the transport needs to answer.

`AuthenticationError` is a 401 and `AuthorizationError` a 403: both subclass the errors of
`bastion.errors`, so code catching `Unauthorized` or `Forbidden` keeps working. Neither
ever holds a credential: messages and reasons come from a short fixed vocabulary or from
the service's own handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from bastion.errors import BastionError, Forbidden, Unauthorized

if TYPE_CHECKING:
    from bastion.security.ratelimit import Decision

__all__ = [
    "REASONS",
    "AuthenticationError",
    "AuthorizationError",
    "NoPrincipalError",
    "RateLimited",
]

#: Every value `reason` can take: safe as a metric label (bounded, never a credential).
REASONS: Final = frozenset(
    {
        "missing",  # no credential in the request
        "invalid",  # a credential was sent and rejected
        "expired",  # a credential that was once valid has expired
        "forbidden",  # the handler refused an authenticated principal
        "insufficient_scope",  # the principal lacks a required scope
        "rate_limited",  # too many requests for this credential or method
        "locked_out",  # too many failed authentications from this client or credential
        "unavailable",  # the rate limit storage is down and the limit fails closed
    }
)


def _reason(reason: str, default: str) -> str:
    # An unknown reason would become an unbounded metric label: fold it into the default.
    return reason if reason in REASONS else default


class AuthenticationError(Unauthorized):
    """The credential is missing or invalid (HTTP 401).

    Verifiers raise it with a `reason`; the enforcer re-raises it with the `scheme` name
    and `kind` set and `alternatives` listing the kinds the method accepts, which is what
    `www_authenticate` needs.
    """

    def __init__(
        self,
        message: str = "unauthorized",
        *,
        reason: str = "invalid",
        scheme: str | None = None,
        kind: str | None = None,
        alternatives: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.reason = _reason(reason, "invalid")
        self.scheme = scheme
        self.kind = kind
        self.alternatives = alternatives

    def __repr__(self) -> str:
        return (
            f"AuthenticationError({self.message!r}, reason={self.reason!r}, scheme={self.scheme!r})"
        )


class AuthorizationError(Forbidden):
    """The principal is authenticated but not allowed (HTTP 403).

    `required_scopes` are the requirement's scopes and `missing_scopes` the ones the
    principal lacks, so the transport can answer `error="insufficient_scope"`.
    """

    def __init__(
        self,
        message: str = "forbidden",
        *,
        missing_scopes: tuple[str, ...] = (),
        required_scopes: tuple[str, ...] = (),
        reason: str = "forbidden",
        scheme: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, missing_scopes=missing_scopes)
        self.required_scopes = required_scopes
        self.reason = _reason(reason, "forbidden")
        self.scheme = scheme
        self.kind = kind

    def __repr__(self) -> str:
        return (
            f"AuthorizationError({self.message!r}, missing_scopes={self.missing_scopes!r}, "
            f"scheme={self.scheme!r})"
        )


class RateLimited(BastionError):
    """A rate limit refused the call (HTTP 429; 503 fits better when `decision.degraded`).

    `decision` gives the numbers for the `RateLimit-*` and `Retry-After` headers (see
    `rate_limit_headers`); `reason` is `rate_limited`, `locked_out` or `unavailable`.
    """

    def __init__(self, message: str, decision: Decision, *, reason: str = "rate_limited") -> None:
        super().__init__(message)
        self.message = message
        self.decision = decision
        self.reason = _reason(reason, "rate_limited")

    def __repr__(self) -> str:
        return f"RateLimited({self.message!r}, reason={self.reason!r})"


class NoPrincipalError(BastionError, LookupError):
    """`principal()` was called outside a secured method call."""
