"""Bastion's JSON error body, as a client reads it."""

from __future__ import annotations

import httpx


def assert_error(r: httpx.Response, status: int, name: str, message: str | None = None) -> None:
    """Assert Bastion's JSON error body (Goa's shape) with `name` and `message`."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["name"] == name
    if message is not None:
        assert body["message"] == message
    assert isinstance(body["id"], str) and body["id"]
    assert {"temporary", "timeout", "fault"} <= set(body)
