"""The `WWW-Authenticate` header for a security failure (RFC 7235, RFC 6750 for bearers)."""

from __future__ import annotations

from typing import Final

from bastion.errors import Forbidden, Unauthorized

__all__ = ["www_authenticate"]

# Fixed text per reason: a handler's own message is never copied into a header.
_DESCRIPTIONS: Final = {
    "expired": "The access token expired",
    "invalid": "The access token is invalid",
}
_BEARER: Final = frozenset({"jwt", "oauth2"})


def _quote(value: str) -> str:
    # A quoted-string: escape quote and backslash, drop control characters (no CRLF
    # injection into the header).
    clean = "".join(ch for ch in value if ch >= " " and ch != "\x7f")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def www_authenticate(error: BaseException, realm: str) -> str | None:
    """Return the `WWW-Authenticate` value answering `error`, or None when none applies.

    A 401 (`Unauthorized`) gets one challenge per scheme kind the method accepts, e.g.
    `Basic realm="orders", charset="UTF-8"` or `Bearer realm="orders", error="invalid_token"`;
    a 403 from a bearer scheme gets `Bearer realm=..., error="insufficient_scope",
    scope="..."`. Other 403s and rate limits get None: the header is left out.
    """
    r = _quote(realm)
    if isinstance(error, Forbidden):
        if getattr(error, "kind", None) not in _BEARER:
            return None
        scopes = tuple(getattr(error, "required_scopes", ())) or error.missing_scopes
        header = f'Bearer realm={r}, error="insufficient_scope"'
        if scopes:
            header += f", scope={_quote(' '.join(scopes))}"
        return header
    if not isinstance(error, Unauthorized):
        return None
    kind = getattr(error, "kind", None)
    reason = getattr(error, "reason", "invalid")
    kinds = tuple(getattr(error, "alternatives", ())) or ((kind,) if kind else ())
    if not kinds:
        return None
    challenges: list[str] = []
    seen: set[str] = set()
    for k in kinds:
        family = "bearer" if k in _BEARER else k
        if family in seen:
            continue
        seen.add(family)
        if family == "basic":
            challenges.append(f'Basic realm={r}, charset="UTF-8"')
        elif family == "bearer":
            challenge = f"Bearer realm={r}"
            # RFC 6750 3.1: no error code when the request carried no token.
            if kind in _BEARER and reason != "missing":
                description = _DESCRIPTIONS.get(reason, _DESCRIPTIONS["invalid"])
                challenge += f', error="invalid_token", error_description="{description}"'
            challenges.append(challenge)
        elif family == "apikey":
            # No registered scheme for API keys; this names the expectation for clients.
            challenges.append(f"APIKey realm={r}")
    return ", ".join(challenges) or None
