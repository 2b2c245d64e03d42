"""HTTP Basic credentials checked against scrypt or bcrypt password hashes.

Hashes are self-describing strings: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64, no
padding) from `hash_password`, or a bcrypt `$2b$...` string. Hashing is slow by design, so
it runs in a worker thread, at most `concurrency` at a time per verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import anyio
import anyio.to_thread

from bastion.errors import ConfigError, Unauthorized
from bastion.security.principal import Principal
from bastion.security.scheme import Scheme

__all__ = ["BasicVerifier", "hash_password", "verify_password"]

_SCRYPT_LN: Final = 15  # N = 2**15, r = 8: 32 MiB and tens of ms per check
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_BCRYPT_ROUNDS: Final = 12
_SCRYPT_RE: Final = re.compile(
    r"^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$"
)
_BCRYPT_RE: Final = re.compile(r"^\$2[aby]?\$(\d\d)\$[./A-Za-z0-9]{53}$")
_BCRYPT_HINT: Final = "bcrypt hashes need the bcrypt package: pip install 'bastion[bcrypt]'"


@dataclass(frozen=True, slots=True)
class _Scrypt:
    ln: int
    r: int
    p: int
    salt: bytes
    hash: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError:
        raise ConfigError([_BCRYPT_HINT]) from None
    return bcrypt


def _scrypt(password: bytes, salt: bytes, ln: int, r: int, p: int, *, size: int) -> bytes:
    n = 1 << ln
    # hashlib refuses anything over maxmem (32 MiB by default); allow what the params need.
    maxmem = 130 * r * n * p + (1 << 20)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=size)


def _parse_scrypt(hashed: str) -> _Scrypt | None:
    m = _SCRYPT_RE.match(hashed)
    if m is None:
        return None
    ln, r, p = int(m[1]), int(m[2]), int(m[3])
    # Bounds keep a typo in configuration from asking for gigabytes per check.
    if not (10 <= ln <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return None
    return _Scrypt(ln, r, p, _unb64(m[4]), _unb64(m[5]))


def hash_password(
    password: str, method: Literal["scrypt", "bcrypt"] = "scrypt", *, cost: int | None = None
) -> str:
    """Return a self-describing hash of `password` for `BasicVerifier`.

    `cost` is log2(N) for scrypt (default 15) or the bcrypt rounds (default 12).
    """
    raw = password.encode("utf-8")
    if method == "scrypt":
        ln = _SCRYPT_LN if cost is None else cost
        if not 10 <= ln <= 20:
            raise ValueError("scrypt cost (log2 N) must be between 10 and 20")
        salt = os.urandom(16)
        digest = _scrypt(raw, salt, ln, _SCRYPT_R, _SCRYPT_P, size=32)
        return f"$scrypt$ln={ln},r={_SCRYPT_R},p={_SCRYPT_P}${_b64(salt)}${_b64(digest)}"
    if method == "bcrypt":
        if len(raw) > 72:
            raise ValueError("bcrypt only uses 72 bytes of a password; use scrypt for longer")
        bcrypt = _bcrypt()
        rounds = _BCRYPT_ROUNDS if cost is None else cost
        hashed: bytes = bcrypt.hashpw(raw, bcrypt.gensalt(rounds))
        return hashed.decode()
    raise ValueError(f"unknown password hash method {method!r}: use 'scrypt' or 'bcrypt'")


def verify_password(password: str, hashed: str) -> bool:
    """Return whether `password` matches `hashed`, comparing in constant time."""
    raw = password.encode("utf-8")
    parsed = _parse_scrypt(hashed)
    if parsed is not None:
        digest = _scrypt(raw, parsed.salt, parsed.ln, parsed.r, parsed.p, size=len(parsed.hash))
        return hmac.compare_digest(digest, parsed.hash)
    if _BCRYPT_RE.match(hashed):
        try:
            # bcrypt.checkpw compares in constant time itself.
            return bool(_bcrypt().checkpw(raw, hashed.encode()))
        except ValueError:  # e.g. a password over bcrypt's 72 bytes
            return False
    return False


def _is_valid_hash(hashed: str) -> bool:
    return _parse_scrypt(hashed) is not None or _BCRYPT_RE.match(hashed) is not None


def _dummy_like(hashed: str | None) -> str:
    # A hash with the same method and cost as a real one, so checking a password against it
    # for an unknown user takes as long as for a known one.
    parsed = _parse_scrypt(hashed) if hashed else None
    if parsed is not None:
        return (
            f"$scrypt$ln={parsed.ln},r={parsed.r},p={parsed.p}$"
            f"{_b64(os.urandom(len(parsed.salt)))}${_b64(os.urandom(len(parsed.hash)))}"
        )
    if hashed is not None and (m := _BCRYPT_RE.match(hashed)):
        bcrypt = _bcrypt()
        dummy: bytes = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(int(m[1])))
        return dummy.decode()
    return (
        f"$scrypt$ln={_SCRYPT_LN},r={_SCRYPT_R},p={_SCRYPT_P}$"
        f"{_b64(os.urandom(16))}${_b64(os.urandom(32))}"
    )


class BasicVerifier:
    """Checks Basic credentials against `{username: hash}`; usable as a `basic_auth` handler.

    An unknown username is checked against a dummy hash of the same cost, so response
    time does not reveal which usernames exist. `scopes` maps usernames to their scopes.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        scopes: Mapping[str, Iterable[str]] | None = None,
        concurrency: int = 4,
    ) -> None:
        bad = sorted(u for u, h in users.items() if not isinstance(h, str) or not _is_valid_hash(h))
        if bad:
            raise ConfigError(
                [
                    f"BasicVerifier: user {u!r} has no valid scrypt or bcrypt hash; build one with "
                    "bastion.security.hash_password()"
                    for u in bad
                ]
            )
        if any(_BCRYPT_RE.match(h) for h in users.values()):
            _bcrypt()  # fail at startup, not at the first request, if bcrypt is missing
        self._users = dict(users)
        self._scopes = {u: frozenset(s) for u, s in (scopes or {}).items()}
        self._dummy = _dummy_like(next(iter(self._users.values()), None))
        self._concurrency = concurrency
        self._limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, username: str, password: str, scheme: Scheme) -> Principal:
        """Return the principal of `username`; raise `Unauthorized` if the check fails."""
        if not username or password is None:
            raise Unauthorized("missing credentials", reason="missing")
        stored = self._users.get(username)
        known = stored is not None
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._concurrency)
        ok = await anyio.to_thread.run_sync(
            verify_password,
            password,
            stored if stored is not None else self._dummy,
            limiter=self._limiter,
        )
        if not (ok and known):
            raise Unauthorized("invalid username or password", reason="invalid")
        return Principal(subject=username, scopes=self._scopes.get(username, frozenset()))
