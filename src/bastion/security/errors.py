"""The refusals the security layer raises besides `Unauthorized` and `Forbidden`.

Authentication and authorization failures are `bastion.Unauthorized` (401) and
`bastion.Forbidden` (403): the same exceptions auth handlers raise, carrying the scheme,
its kind and a `reason` from `REASONS`. Rate limits raise `RateLimited`. None of them ever
holds a credential, and none says how a transport renders it: HTTP turns them into status
codes and headers, another transport into its own status codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.errors import REASONS, BastionError, _reason

if TYPE_CHECKING:
    from bastion.security.ratelimit import Decision

__all__ = ["REASONS", "NoPrincipalError", "RateLimited"]


class RateLimited(BastionError):
    """A rate limit refused the call (HTTP 429, gRPC RESOURCE_EXHAUSTED).

    `decision` gives the numbers (limit, remaining, when it resets); `reason` is
    `rate_limited` (a request limit), `locked_out` (too many failed authentications) or
    `unavailable` (the storage is down and the limit's fail mode refuses: HTTP 503).
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
