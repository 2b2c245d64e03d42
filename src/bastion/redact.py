"""Scrub credentials from URLs before they reach spans or log lines.

Query parameters whose name is a known credential name keep their name but lose their
value (`?token=REDACTED`), as the OpenTelemetry HTTP conventions ask for `url.full`;
user:password in the authority is replaced the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_CREDENTIAL_PARAMS",
    "REDACTED",
    "credential_names",
    "redact_query",
    "redact_url",
]

REDACTED: Final = "REDACTED"

#: Query parameter names (compared case-insensitively) whose values are always scrubbed.
DEFAULT_CREDENTIAL_PARAMS: Final = frozenset(
    {
        "access_token",
        "api-key",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "awsaccesskeyid",
        "client_secret",
        "id_token",
        "key",
        "passwd",
        "password",
        "pwd",
        "refresh_token",
        "secret",
        "sig",
        "signature",
        "token",
        "x-amz-credential",
        "x-amz-security-token",
        "x-amz-signature",
        "x-api-key",
        "x-goog-signature",
    }
)


def credential_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """Return the defaults plus `extra` (e.g. the design's API-key query params), lower-cased."""
    return DEFAULT_CREDENTIAL_PARAMS | frozenset(name.lower() for name in extra)


def redact_query(query: str, names: frozenset[str] = DEFAULT_CREDENTIAL_PARAMS) -> str:
    """Return `query` (no leading `?`) with the values of credential parameters replaced.

    The rest of the string is kept byte for byte, so a URL with no credential in it is
    returned unchanged. `names` must be lower-case (see `credential_names`).
    """
    if not query:
        return query
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        # Names may be percent-encoded or use '+'; credential names never need either,
        # so comparing the raw lower-cased name is enough and avoids decoding every pair.
        if sep and name.lower() in names:
            parts[i] = f"{name}={REDACTED}"
            changed = True
    return "&".join(parts) if changed else query


def redact_url(url: str, names: frozenset[str] = DEFAULT_CREDENTIAL_PARAMS) -> str:
    """Return `url` with credential query values and any user:password replaced by REDACTED."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # An unparsable URL cannot be scrubbed reliably; never echo it.
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}:{REDACTED}@{netloc.rpartition('@')[2]}"
    query = redact_query(parts.query, names)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
