"""The orders example's design serves its security: JWT scopes, its API key, its rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.testing import TestClient
from tests.support.credentials import bearer, key_header
from tests.support.errors import assert_error


async def test_example_orders_design_serves_its_security(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from examples.orders.main import DEMO_API_KEY, Settings, build
    from examples.orders.mint import mint

    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    # pydantic-settings fills the other fields from their defaults; mypy cannot see that.
    app = build(Settings(database_url=f"sqlite:///{tmp_path}/orders.db"))  # type: ignore[call-arg]
    order = {"amount": 3, "type": "retail", "customer": "a@b.co"}
    async with TestClient(app) as c:
        r = await c.post("/orders", json=order)
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == 'Bearer realm="orders"'
        r = await c.post("/orders", json=order, headers=bearer(mint(["orders:read"])))
        assert_error(r, 403, "forbidden", "missing scopes: orders:write")
        r = await c.post("/orders", json=order, headers=bearer(mint(["orders:write"])))
        assert r.status_code == 201, r.text
        oid = r.json()["id"]
        r = await c.get(f"/orders/{oid}", headers=key_header(DEMO_API_KEY))
        assert r.status_code == 200
        assert r.headers["ratelimit-limit"] == "600"
        r = await c.get(f"/orders/{oid}", headers=bearer(mint(["orders:read"])))
        assert r.status_code == 200
        assert (await c.get("/ping")).json() == {"status": "ok"}
