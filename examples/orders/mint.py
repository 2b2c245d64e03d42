"""Mint a JWT for the demo: `python -m examples.orders.mint orders:write orders:read`.

Signs with JWT_SECRET (the demo secret when unset), so the token works against
`make demo`. For real deployments tokens come from your identity provider.
"""

from __future__ import annotations

import os
import sys
import time

import jwt

from examples.orders.main import DEMO_JWT_SECRET


def mint(scopes: list[str], *, subject: str = "demo-user", ttl: int = 3600) -> str:
    """Return an HS256 token for `subject` with `scopes`, valid for `ttl` seconds."""
    now = int(time.time())
    claims = {"sub": subject, "iss": os.environ.get("JWT_ISSUER", "orders-demo"),
              "iat": now, "nbf": now, "exp": now + ttl, "scope": " ".join(scopes)}
    return jwt.encode(claims, os.environ.get("JWT_SECRET", DEMO_JWT_SECRET), algorithm="HS256")


if __name__ == "__main__":
    print(mint(sys.argv[1:] or ["orders:read", "orders:write"]))
