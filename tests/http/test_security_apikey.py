"""API keys from an `APIKeyStore`, end to end over HTTP: rotation, expiry, constant time."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bastion.testing import TestClient
from tests.support.credentials import key_header
from tests.support.errors import assert_error
from tests.support.secured import (
    KEY_ACME_NEW,
    KEY_ACME_OLD,
    KEY_EXPIRED,
    KEY_GLOBEX,
    KEY_UNKNOWN,
    Keys,
    assert_who,
    key_store,
    keys_design,
    serve,
)


async def test_api_key_rotation_two_active_keys_then_revoke_the_old() -> None:
    store = key_store()
    served = serve(keys_design(), {"keys": Keys(store)})
    async with TestClient(served.app) as c:
        assert_who(await c.get("/one", headers=key_header(KEY_ACME_OLD)), "acme", ["api_key"])
        assert_who(await c.get("/one", headers=key_header(KEY_ACME_NEW)), "acme", ["api_key"])
        assert store.revoke("acme", KEY_ACME_OLD) == 1
        r = await c.get("/one", headers=key_header(KEY_ACME_OLD))
        assert_error(r, 401, "unauthorized", "invalid API key")
        assert r.headers["www-authenticate"] == 'APIKey realm="keys"'
        assert_who(await c.get("/one", headers=key_header(KEY_ACME_NEW)), "acme", ["api_key"])


async def test_api_key_expired_is_a_401_with_reason_expired() -> None:
    served = serve(keys_design(), {"keys": Keys(key_store())})
    async with TestClient(served.app) as c:
        r = await c.get("/one", headers=key_header(KEY_EXPIRED))
    assert_error(r, 401, "unauthorized", "API key expired")
    assert r.headers["www-authenticate"] == 'APIKey realm="keys"'
    [failure] = served.auth_failures()
    assert failure["reason"] == "expired"


async def test_api_key_expires_while_the_app_runs() -> None:
    store = key_store()
    served = serve(keys_design(), {"keys": Keys(store)})
    async with TestClient(served.app) as c:
        store.add("globex", KEY_GLOBEX, expires_at=datetime.now(UTC) + timedelta(hours=1))
        assert_who(await c.get("/one", headers=key_header(KEY_GLOBEX)), "globex", ["api_key"])
        store.add("globex", KEY_GLOBEX, expires_at=datetime.now(UTC) - timedelta(seconds=1))
        assert_error(await c.get("/one", headers=key_header(KEY_GLOBEX)), 401, "unauthorized",
                     "API key expired")


@pytest.mark.parametrize("which", ["first", "last", "unknown"])
async def test_api_key_lookup_compares_every_digest_in_constant_time(
    which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = key_store()  # four entries
    served = serve(keys_design(), {"keys": Keys(store)})
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    key = {"first": KEY_ACME_OLD, "last": KEY_EXPIRED, "unknown": KEY_UNKNOWN}[which]
    async with TestClient(served.app) as c:
        monkeypatch.setattr("bastion.security.apikey.hmac.compare_digest", spy)
        r = await c.get("/one", headers=key_header(key))
        monkeypatch.undo()
    assert r.status_code in (200, 401)
    # Every stored digest was compared with compare_digest, whichever matched (no early
    # exit), and only digests (32 bytes), never the raw key.
    assert compared == [(32, 32)] * 4
