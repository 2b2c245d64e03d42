"""JWTs written by hand: the forgeries `TokenFactory` will not mint.

Real tokens come from `bastion.security.testing.TokenFactory`. What an attacker sends
instead (`alg: none`, an RS256 key's public bytes used as an HS256 secret, a payload
changed after signing) is built here, from the header and claims up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWS segments are written (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_sha256(secret: bytes) -> Callable[[bytes], bytes]:
    """A signer computing HMAC-SHA256 with `secret`, for `craft(..., sign=...)`."""
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def craft(header: Mapping[str, Any], claims: Mapping[str, Any],
          sign: Callable[[bytes], bytes] | None = None) -> str:
    """A compact JWS of `header` and `claims`, signed by `sign` (unsigned without one)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign is not None else b""
    return f"{signing_input}.{b64url(signature)}"
