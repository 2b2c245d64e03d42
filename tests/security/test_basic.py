from __future__ import annotations

import hashlib
from typing import Any

import bcrypt
import pytest

from bastion.errors import ConfigError, Unauthorized
from bastion.security import BasicScheme, BasicVerifier, hash_password
from bastion.security.basic import verify_password

SCHEME = BasicScheme("basic")
# Low costs keep the suite fast; production defaults are scrypt ln=15, bcrypt 12 rounds.
SCRYPT_COST = 11
BCRYPT_COST = 4


@pytest.fixture(scope="module")
def scrypt_hash() -> str:
    return hash_password("correct horse", cost=SCRYPT_COST)


@pytest.fixture(scope="module")
def bcrypt_hash() -> str:
    return hash_password("battery staple", "bcrypt", cost=BCRYPT_COST)


def test_scrypt_hashes_are_self_describing_and_salted(scrypt_hash: str) -> None:
    assert scrypt_hash.startswith(f"$scrypt$ln={SCRYPT_COST},r=8,p=1$")
    assert hash_password("correct horse", cost=SCRYPT_COST) != scrypt_hash
    assert verify_password("correct horse", scrypt_hash)
    assert not verify_password("correct horsf", scrypt_hash)
    assert not verify_password("correct horse", "$plain$correct horse")


async def test_scrypt_user_authenticates_and_wrong_password_fails(scrypt_hash: str) -> None:
    v = BasicVerifier({"alice": scrypt_hash}, scopes={"alice": ["api:read"]})
    p = await v("alice", "correct horse", SCHEME)
    assert p.subject == "alice" and p.scopes == {"api:read"}
    with pytest.raises(Unauthorized) as info:
        await v("alice", "wrong", SCHEME)
    assert info.value.reason == "invalid"
    assert "wrong" not in str(info.value)


async def test_bcrypt_user_authenticates_and_wrong_password_fails(bcrypt_hash: str) -> None:
    assert bcrypt_hash.startswith("$2b$04$")
    v = BasicVerifier({"bob": bcrypt_hash})
    assert (await v("bob", "battery staple", SCHEME)).subject == "bob"
    with pytest.raises(Unauthorized):
        await v("bob", "battery stapler", SCHEME)
    # Over bcrypt's 72 bytes: refused, not an exception.
    with pytest.raises(Unauthorized):
        await v("bob", "x" * 100, SCHEME)


async def test_unknown_user_spends_one_scrypt_of_the_same_cost(
    scrypt_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = BasicVerifier({"alice": scrypt_hash})
    calls: list[dict[str, Any]] = []
    real = hashlib.scrypt

    def spy(password: bytes, **kw: Any) -> bytes:
        calls.append(kw)
        return real(password, **kw)

    monkeypatch.setattr(hashlib, "scrypt", spy)
    with pytest.raises(Unauthorized) as unknown:
        await v("mallory", "correct horse", SCHEME)
    with pytest.raises(Unauthorized) as known:
        await v("alice", "wrong", SCHEME)
    assert len(calls) == 2
    assert calls[0]["n"] == calls[1]["n"] == 1 << SCRYPT_COST
    assert calls[0]["r"] == calls[1]["r"]
    # The same answer either way: nothing tells which usernames exist.
    assert unknown.value.message == known.value.message


async def test_unknown_user_spends_one_bcrypt_of_the_same_cost(
    bcrypt_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = BasicVerifier({"bob": bcrypt_hash})
    checked: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return bool(real(password, hashed))

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    with pytest.raises(Unauthorized):
        await v("mallory", "battery staple", SCHEME)
    assert len(checked) == 1 and checked[0].startswith(b"$2b$04$")
    assert checked[0] != bcrypt_hash.encode()


async def test_missing_credentials_are_reported_as_missing(scrypt_hash: str) -> None:
    v = BasicVerifier({"alice": scrypt_hash})
    with pytest.raises(Unauthorized) as info:
        await v("", "x", SCHEME)
    assert info.value.reason == "missing"


def test_invalid_hashes_fail_at_startup_naming_the_user() -> None:
    with pytest.raises(ConfigError, match="'carol'"):
        BasicVerifier({"carol": "plaintext-password"})
    with pytest.raises(ConfigError, match="'dave'"):
        BasicVerifier({"dave": "$scrypt$ln=40,r=8,p=1$AAAA$AAAA"})
    with pytest.raises(ValueError, match="72 bytes"):
        hash_password("y" * 80, "bcrypt", cost=BCRYPT_COST)
