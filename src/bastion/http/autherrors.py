"""Security refusals as HTTP answers: 401 with a challenge, 403 naming scopes, 429 or 503.

The security layer says why it refused a call (`Unauthorized`, `Forbidden`, `RateLimited`);
this is where HTTP says it: the status, the error body's name and message, and the
`WWW-Authenticate`, `RateLimit-*` and `Retry-After` headers.
"""

from __future__ import annotations

from bastion.errors import Forbidden, Unauthorized
from bastion.http.challenge import www_authenticate
from bastion.http.ratelimit import rate_limit_header_pairs
from bastion.security import RateLimited

__all__ = ["Answer", "SecurityResponses"]

#: (status, error name, message, extra headers)
Answer = tuple[int, str, str, list[tuple[bytes, bytes]]]


class SecurityResponses:
    """Maps the security layer's refusals to (status, name, message, headers)."""

    def __init__(self, realm: str) -> None:
        self.realm = realm
        # A 401 without a known scheme still needs a challenge (RFC 7235).
        self._default_challenge = f'Bearer realm="{realm}"'.encode("latin-1", "replace")

    def __call__(self, exc: BaseException) -> Answer | None:
        """The answer to `exc`, or None when it is not a security refusal."""
        if isinstance(exc, RateLimited):
            headers = rate_limit_header_pairs(exc.decision)
            if exc.reason == "unavailable":
                return 503, "unavailable", "authentication is unavailable; retry later", headers
            # The refusal says which: "rate limit exceeded" or "too many failed authentications".
            return 429, "too_many_requests", exc.message, headers
        if isinstance(exc, Unauthorized):
            challenge = www_authenticate(exc, self.realm)
            value = (
                challenge.encode("latin-1", "replace") if challenge else self._default_challenge
            )
            return 401, "unauthorized", exc.message, [(b"www-authenticate", value)]
        if isinstance(exc, Forbidden):
            challenge = www_authenticate(exc, self.realm)
            extra = (
                [(b"www-authenticate", challenge.encode("latin-1", "replace"))] if challenge else []
            )
            return 403, "forbidden", exc.message, extra
        return None
