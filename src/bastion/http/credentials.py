"""Reading credentials from HTTP's `Authorization` header (RFC 7235, 7617, 6750).

One reading for every part of the transport: the request decoder fills a method's
credential attributes with it, and the admin endpoints hand the same values to the
security layer.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["basic_credentials", "bearer_token"]


def bearer_token(value: str) -> str | None:
    """The token of `Bearer <token>` (or of a bare token with no scheme word), else None.

    `Basic ...` and any other scheme word carry no bearer token: None, so a password is
    never handed to a token handler.
    """
    scheme, _, cred = value.strip().partition(" ")
    if scheme.lower() == "bearer":
        return cred.strip()
    return scheme if not cred else None


def basic_credentials(value: str) -> tuple[str, str] | None:
    """The (username, password) of `Basic <base64(user:password)>`, else None.

    A value that is not valid base64 of UTF-8 text with a colon carries no credentials;
    the password may itself contain colons.
    """
    scheme, _, cred = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
