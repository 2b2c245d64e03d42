"""The SHA-256 digest of a credential, computed once per request however many parts ask.

The enforcer keys brute-force counters by the credential's digest, the API key store looks
keys up by digest and the JWT verifier caches tokens by digest: each asks here, and the
last digest computed in the current context is reused when asked for the very same string
object (the credential the enforcer hands to the handler). A context belongs to one
request, so nothing is shared between requests.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar

__all__ = ["credential_digest"]

_last: ContextVar[tuple[str, bytes] | None] = ContextVar("bastion.security.digest", default=None)


def credential_digest(value: str) -> bytes:
    """Return the SHA-256 digest of `value` (UTF-8), reusing this request's last one."""
    last = _last.get()
    if last is not None and last[0] is value:
        return last[1]
    digest = hashlib.sha256(value.encode("utf-8")).digest()
    _last.set((value, digest))
    return digest
