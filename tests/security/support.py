"""Helpers for the security tests."""

from __future__ import annotations


def fresh(text: str) -> str:
    """A new string object with the same text, as each request decodes its own credential."""
    return "".join(list(text))
