"""API keys kept as SHA-256 digests, with rotation, expiry and revocation.

Why a scan and not a dict keyed by digest: the dict would be acceptable. Its lookup time
depends on the stored digests, but those are SHA-256 outputs of high-entropy keys; an
attacker can neither choose inputs whose digests share a prefix with a stored one (that
takes a preimage-like search) nor use a leaked digest to forge the key (preimage
resistance). The scan below calls `hmac.compare_digest` on every stored digest, so the work
done does not depend on which digest matches, or on whether one does: defence in depth
that costs O(number of keys). That is cheap for the tens or hundreds of keys a static store
holds; a service with many thousands of keys belongs in a database, behind its own
`api_key_auth` handler that looks keys up by digest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bastion.errors import ConfigError, Unauthorized
from bastion.security._digest import credential_digest
from bastion.security.principal import Principal
from bastion.security.scheme import Scheme

__all__ = ["APIKeyStore"]

_MIN_KEY_CHARS = 16


@dataclass(frozen=True, slots=True)
class _Entry:
    client: str
    digest: bytes
    expires_at: datetime | None
    principal: Principal  # built once, when the key is added: immutable, shared by calls


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class APIKeyStore:
    """The API keys of an App's clients; usable directly as an `api_key_auth` handler.

    Only SHA-256 digests are kept. A client may hold several active keys at once, so a new
    key can be rolled out before the old one is revoked. The principal's subject is the
    client name and its claims carry `key_id`, a short fingerprint that is safe to log.
    """

    def __init__(self) -> None:
        # Replaced, never mutated: a call in progress iterates a consistent snapshot.
        self._entries: tuple[_Entry, ...] = ()

    @staticmethod
    def generate() -> str:
        """Return a new random key (256 bits, URL-safe) to hand to a client."""
        return secrets.token_urlsafe(32)

    def add(
        self,
        client: str,
        key: str,
        *,
        expires_at: datetime | None = None,
        scopes: Iterable[str] = (),
    ) -> None:
        """Accept `key` for `client` until `expires_at` (aware datetime), granting `scopes`."""
        if not client:
            raise ConfigError(["APIKeyStore.add: client must be a non-empty name"])
        if not isinstance(key, str) or len(key) < _MIN_KEY_CHARS:
            raise ConfigError(
                [
                    f"APIKeyStore.add({client!r}): keys must be at least {_MIN_KEY_CHARS} "
                    "characters; use APIKeyStore.generate()"
                ]
            )
        if expires_at is not None and expires_at.tzinfo is None:
            raise ConfigError(
                [
                    f"APIKeyStore.add({client!r}): expires_at must be timezone-aware, "
                    "e.g. datetime(..., tzinfo=UTC)"
                ]
            )
        if isinstance(scopes, str):
            raise ConfigError(
                [f"APIKeyStore.add({client!r}): scopes must be a list of names, not a string"]
            )
        digest = _digest(key)
        principal = Principal(
            subject=client, scopes=frozenset(scopes), claims={"key_id": digest.hex()[:12]}
        )
        entry = _Entry(client, digest, expires_at, principal)
        # Adding the same key again replaces its entry (e.g. to change its expiry).
        kept = tuple(e for e in self._entries if e.digest != digest)
        self._entries = (*kept, entry)

    def revoke(self, client: str, key: str | None = None) -> int:
        """Stop accepting `key`, or every key of `client` when `key` is None; return the count."""
        digest = _digest(key) if key is not None else None
        kept = tuple(
            e
            for e in self._entries
            if not (e.client == client and (digest is None or e.digest == digest))
        )
        removed = len(self._entries) - len(kept)
        self._entries = kept
        return removed

    def clients(self) -> dict[str, int]:
        """Return how many keys each client holds (for an admin view; no key material)."""
        counts: dict[str, int] = {}
        for e in self._entries:
            counts[e.client] = counts.get(e.client, 0) + 1
        return counts

    async def __call__(self, key: str, scheme: Scheme) -> Principal:
        """Return the principal of `key`; raise `Unauthorized` if unknown or expired."""
        if not isinstance(key, str) or not key:
            raise Unauthorized("missing API key", reason="missing")
        # The enforcer hashed this very key for its lockout check: reuse that digest.
        candidate = credential_digest(key)
        match: _Entry | None = None
        for entry in self._entries:
            # No early exit: every stored digest is compared, whichever one matches.
            if hmac.compare_digest(entry.digest, candidate):
                match = entry
        if match is None:
            raise Unauthorized("invalid API key", reason="invalid")
        if match.expires_at is not None and datetime.now(UTC) >= match.expires_at:
            raise Unauthorized("API key expired", reason="expired")
        return match.principal
