from __future__ import annotations

import pytest

from bastion.errors import DesignError
from bastion.security import Principal, Scheme, client_address, set_client_address
from bastion.security.principal import normalize_scopes


def test_principal_scopes_are_a_frozenset_and_a_string_is_split() -> None:
    assert Principal("a", ["x", "y"]).scopes == frozenset({"x", "y"})  # type: ignore[arg-type]
    assert Principal("a", "x y").scopes == frozenset({"x", "y"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Principal("a", [1, 2])  # type: ignore[arg-type]


def test_principal_claims_are_read_only_and_kept_out_of_repr() -> None:
    p = Principal("alice", frozenset({"r"}), {"email": "alice@example.com"})
    with pytest.raises(TypeError):
        p.claims["email"] = "mallory@example.com"  # type: ignore[index]
    assert "alice@example.com" not in repr(p)
    assert p == Principal("alice", frozenset({"r"}), {"email": "alice@example.com"})
    assert hash(p) == hash(Principal("alice", frozenset({"r"})))


def test_normalize_scopes_never_treats_a_string_as_a_container() -> None:
    assert normalize_scopes("api:readonly") == frozenset({"api:readonly"})
    assert "api:read" not in (normalize_scopes("api:readonly") or set())
    assert normalize_scopes(None) is None
    assert normalize_scopes({"a": 1}) is None
    assert normalize_scopes(42) is None


async def test_client_address_is_per_context() -> None:
    assert client_address.get() is None
    token = set_client_address("192.0.2.1")
    assert client_address.get() == "192.0.2.1"
    client_address.reset(token)
    assert client_address.get() is None


def test_scheme_kind_is_checked() -> None:
    with pytest.raises(DesignError, match="kind 'saml'"):
        Scheme.of("saml", "sso")
