"""Who the client is: the peer, or the address a trusted proxy forwarded for."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.clientaddr import CLIENT_SCOPE_KEY, ClientAddress
from bastion.config import Config, load
from bastion.errors import ConfigError


def _scope(peer: str | None, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 40000) if peer is not None else None,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("10.0.0.7", {"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"),
        # The rightmost hop no trusted proxy added: what came before it may be forged.
        ("10.0.0.7", {"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.0.0.8"}, "203.0.113.9"),
        ("10.0.0.7", {"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}, "2001:db8::1"),
        ("10.0.0.7", {"Forwarded": "for=192.0.2.60, for=10.0.0.9"}, "192.0.2.60"),
        ("10.0.0.7", {"Forwarded": "for=192.0.2.60:8080"}, "192.0.2.60"),
        # Forwarded wins over X-Forwarded-For when a proxy sent both.
        ("10.0.0.7", {"Forwarded": "for=192.0.2.60", "X-Forwarded-For": "203.0.113.9"},
         "192.0.2.60"),
        ("192.0.2.1", {"X-Forwarded-For": "203.0.113.9"}, "192.0.2.1"),  # not a proxy of ours
        ("10.0.0.7", {}, "10.0.0.7"),
        ("10.0.0.7", {"X-Forwarded-For": "10.0.0.8, 10.0.0.9"}, "10.0.0.8"),  # all ours
        (None, {"X-Forwarded-For": "203.0.113.9"}, ""),
    ],
)
def test_forwarded_headers_are_believed_from_trusted_proxies_only(
    peer: str | None, headers: dict[str, str], client: str
) -> None:
    resolve = ClientAddress(["10.0.0.0/8"])
    scope = _scope(peer, headers)
    assert resolve(scope) == client
    assert scope[CLIENT_SCOPE_KEY] == client  # once per request: kept in the scope


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert ClientAddress()(_scope("10.0.0.7", {"X-Forwarded-For": "203.0.113.9"})) == "10.0.0.7"


def test_a_request_resolved_once_is_not_resolved_again() -> None:
    scope = _scope("10.0.0.7", {"X-Forwarded-For": "203.0.113.9"})
    scope[CLIENT_SCOPE_KEY] = "198.51.100.7"
    assert ClientAddress(["10.0.0.0/8"])(scope) == "198.51.100.7"


def test_bad_trusted_proxies_are_config_errors_naming_each() -> None:
    with pytest.raises(ConfigError) as caught:
        ClientAddress(["10.0.0.1", "not-an-ip", "10.0.0.0/99"])
    assert caught.value.problems == [
        "trusted proxy 'not-an-ip': not an IP address or network",
        "trusted proxy '10.0.0.0/99': not an IP address or network",
    ]
    with pytest.raises(ConfigError, match=r"TRUSTED_PROXIES.*not-an-ip"):
        load(Config, env={"TRUSTED_PROXIES": "10.0.0.1,not-an-ip"})
