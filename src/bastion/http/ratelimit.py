"""`RateLimit-*` and `Retry-After` headers for a rate-limit decision.

The security layer decides (`Decision`: allowed, limit, remaining, when the window
resets); this module says it in HTTP, as the IETF RateLimit header fields draft does.
"""

from __future__ import annotations

import math

from bastion.security.ratelimit import Decision

__all__ = ["rate_limit_header_pairs", "rate_limit_headers"]


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """Return the `RateLimit-*` headers for `decision`, and `Retry-After` when refused.

    A degraded decision (counted without the shared store, or decided by a fail mode)
    carries no counts worth publishing: only `Retry-After` is given when it refuses.
    """
    headers: dict[str, str] = {}
    reset = max(0, math.ceil(decision.reset_after_seconds))
    if not decision.degraded:
        headers["RateLimit-Limit"] = str(decision.limit)
        headers["RateLimit-Remaining"] = str(max(0, decision.remaining))
        headers["RateLimit-Reset"] = str(reset)
        if decision.window_seconds:
            headers["RateLimit-Policy"] = f"{decision.limit};w={decision.window_seconds}"
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, reset))
    return headers


def rate_limit_header_pairs(decision: Decision) -> list[tuple[bytes, bytes]]:
    """The same headers as ASGI `(name, value)` pairs, names lower-cased."""
    return [(k.lower().encode(), v.encode()) for k, v in rate_limit_headers(decision).items()]
