"""Credentials as a client sends them: Basic, bearer and API key headers."""

from __future__ import annotations

import base64


def basic(user: str, password: str) -> dict[str, str]:
    """An `Authorization: Basic` header."""
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    """An `Authorization: Bearer` header."""
    return {"Authorization": f"Bearer {token}"}


def key_header(key: str) -> dict[str, str]:
    """The default API key header."""
    return {"X-API-Key": key}
