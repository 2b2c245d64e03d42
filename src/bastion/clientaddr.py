"""Who the client of a request is: the peer, or what a trusted proxy says it forwarded for.

One rule for every part that names the client — the request log's `client.address`, the
span's `client.address`, the security layer's per-client failure limit and its `auth
failure` lines — so that behind a load balancer they all name the same address. It is
resolved once per request and kept in the scope under `CLIENT_SCOPE_KEY`.

`Forwarded` (RFC 7239) and `X-Forwarded-For` are believed only from a peer inside
`TRUSTED_PROXIES` (addresses or networks, `10.0.0.0/8`); from any other peer they are
ignored, since a client can write whatever it likes in them. Of the addresses they list,
the client is the rightmost one no trusted proxy added: a proxy's own list may begin with
whatever the client sent, so the walk stops at the first untrusted hop.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from bastion.errors import ConfigError
from bastion.types import Scope

__all__ = ["CLIENT_SCOPE_KEY", "ClientAddress", "parse_networks"]

#: The scope key holding the request's resolved client address ("" when unknown).
CLIENT_SCOPE_KEY: Final = "bastion.client"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDING: Final = frozenset({b"forwarded", b"x-forwarded-for"})


def parse_networks(values: Iterable[str]) -> tuple[_Network, ...]:
    """Parse addresses and networks; raise ConfigError naming every bad one."""
    networks = []
    bad = []
    for value in values:
        if not value.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            bad.append(value)
    if bad:
        raise ConfigError([f"trusted proxy {v!r}: not an IP address or network" for v in bad])
    return tuple(networks)


class ClientAddress:
    """Resolve a request's client address under one list of trusted proxies."""

    __slots__ = ("trusted",)

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.trusted = parse_networks(trusted_proxies)

    def __call__(self, scope: Scope) -> str:
        """The client's address ("" when the server gave no peer), resolved once per request."""
        known: str | None = scope.get(CLIENT_SCOPE_KEY)
        if known is not None:
            return known
        client = scope.get("client")
        peer: str = client[0] if client else ""
        address = peer
        if self.trusted and peer and _within(peer, self.trusted):
            forwarded = [(name, value) for name, value in scope["headers"]
                         if name in _FORWARDING]
            if forwarded:
                address = self._forwarded_client(peer, forwarded)
        scope[CLIENT_SCOPE_KEY] = address
        return address

    def _forwarded_client(self, peer: str, headers: list[tuple[bytes, bytes]]) -> str:
        hops: list[str] = []
        # `Forwarded` is the standard: when a proxy sent it, X-Forwarded-For is ignored.
        use_forwarded = any(name == b"forwarded" for name, _ in headers)
        for name, value in headers:
            text = value.decode("latin-1")
            if use_forwarded and name == b"forwarded":
                hops.extend(_forwarded_for(text))
            elif not use_forwarded:
                hops.extend(h.strip() for h in text.split(",") if h.strip())
        for hop in reversed(hops):
            if not _within(hop, self.trusted):
                return hop
        return hops[0] if hops else peer


def _within(address: str, networks: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _forwarded_for(header: str) -> list[str]:
    """The `for=` addresses of a `Forwarded` header (RFC 7239), ports and brackets removed."""
    hops = []
    for element in header.split(","):
        for pair in element.split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key.strip().lower() == "for":
                hops.append(_host(value.strip().strip('"')))
    return hops


def _host(node: str) -> str:
    if node.startswith("["):  # "[2001:db8::1]:4711"
        return node[1:].partition("]")[0]
    if node.count(":") == 1:  # "192.0.2.43:47011"
        return node.partition(":")[0]
    return node
