"""Listen addresses as Go writes them: ":8080", "127.0.0.1:8081", "[::1]:8080"."""

from __future__ import annotations

__all__ = ["ADDRESS_HINT", "format_address", "parse_address"]

ADDRESS_HINT = "host:port such as ':8080' or '127.0.0.1:8081'"


def parse_address(text: str) -> tuple[str, int]:
    """Return (host, port) from "host:port"; an empty host means every IPv4 interface.

    Raises ValueError naming the expected form when `text` has no port or a bad one.
    """
    s = text.strip()
    host, sep, port_text = s.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{text!r} is not {ADDRESS_HINT}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"{text!r} has port {port}, above 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 host in brackets, such as '[::1]:8080'")
    return (host or "0.0.0.0", port)


def format_address(host: str, port: int) -> str:
    """Return "host:port", bracketing an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
