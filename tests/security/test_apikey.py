from __future__ import annotations

import contextlib
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from bastion.errors import ConfigError, Unauthorized
from bastion.security import APIKeyScheme, APIKeyStore

SCHEME = APIKeyScheme("api_key")
OLD = "old-key-0123456789abcdef"
NEW = "new-key-0123456789abcdef"
OTHER = "other-client-key-0123456789"


async def test_a_key_authenticates_its_client_with_its_scopes() -> None:
    store = APIKeyStore()
    store.add("acme", OLD, scopes=["api:read"])
    p = await store(OLD, SCHEME)
    assert p.subject == "acme"
    assert p.scopes == {"api:read"}
    assert p.claims["key_id"] == hashlib.sha256(OLD.encode()).hexdigest()[:12]


async def test_an_unknown_key_is_invalid() -> None:
    store = APIKeyStore()
    store.add("acme", OLD)
    with pytest.raises(Unauthorized) as info:
        await store("wrong-key-0123456789abcdef", SCHEME)
    assert info.value.reason == "invalid"
    assert "wrong-key" not in str(info.value)


async def test_rotation_two_active_keys_then_the_old_one_is_revoked() -> None:
    store = APIKeyStore()
    store.add("acme", OLD)
    store.add("acme", NEW)
    assert (await store(OLD, SCHEME)).subject == "acme"
    assert (await store(NEW, SCHEME)).subject == "acme"
    assert store.clients() == {"acme": 2}

    assert store.revoke("acme", OLD) == 1
    with pytest.raises(Unauthorized):
        await store(OLD, SCHEME)
    assert (await store(NEW, SCHEME)).subject == "acme"


async def test_revoking_a_client_removes_all_its_keys_only() -> None:
    store = APIKeyStore()
    store.add("acme", OLD)
    store.add("acme", NEW)
    store.add("globex", OTHER)
    assert store.revoke("acme") == 2
    for key in (OLD, NEW):
        with pytest.raises(Unauthorized):
            await store(key, SCHEME)
    assert (await store(OTHER, SCHEME)).subject == "globex"
    # Revoking a key of another client does nothing.
    assert store.revoke("acme", OTHER) == 0


async def test_expired_keys_are_refused_as_expired() -> None:
    store = APIKeyStore()
    now = datetime.now(UTC)
    store.add("acme", OLD, expires_at=now - timedelta(seconds=1))
    store.add("acme", NEW, expires_at=now + timedelta(hours=1))
    with pytest.raises(Unauthorized) as info:
        await store(OLD, SCHEME)
    assert info.value.reason == "expired"
    assert (await store(NEW, SCHEME)).subject == "acme"


async def test_every_stored_digest_is_compared_whichever_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = APIKeyStore()
    store.add("acme", OLD)
    store.add("acme", NEW)
    store.add("globex", OTHER)
    stored = [hashlib.sha256(k.encode()).digest() for k in (OLD, NEW, OTHER)]
    real = hmac.compare_digest
    seen: list[bytes] = []

    def spy(a: bytes, b: bytes) -> bool:
        seen.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for key in (OLD, OTHER, "no-such-key-0123456789abcdef"):
        seen.clear()
        with contextlib.suppress(Unauthorized):
            await store(key, SCHEME)
        # The first stored key matching does not stop the scan; a miss scans all too.
        assert seen == stored


def test_only_digests_are_kept() -> None:
    store = APIKeyStore()
    store.add("acme", OLD)
    dump = repr(store._entries) + repr(vars(store))
    assert OLD not in dump
    assert hashlib.sha256(OLD.encode()).digest() == store._entries[0].digest


def test_bad_keys_and_naive_expiry_are_configuration_errors() -> None:
    store = APIKeyStore()
    with pytest.raises(ConfigError, match="at least 16"):
        store.add("acme", "short")
    with pytest.raises(ConfigError, match="timezone-aware"):
        store.add("acme", OLD, expires_at=datetime(2030, 1, 1))
    with pytest.raises(ConfigError, match="list of names"):
        store.add("acme", OLD, scopes="api:read")
    assert len(APIKeyStore.generate()) >= 43
