"""The `WWW-Authenticate` header for a security failure (RFC 7235, RFC 6750 for bearers).

The security layer says why a call was refused (`Unauthorized` or `Forbidden`, with the
scheme's kind, the reason and the kinds the method accepts); this module says it in HTTP.
"""

from __future__ import annotations

from typing import Final

from bastion.dsl.expr import SchemeKind
from bastion.errors import Forbidden, Unauthorized

__all__ = ["www_authenticate"]

# Fixed text per reason: a handler's own message is never copied into a header.
_DESCRIPTIONS: Final = {
    "expired": "The access token expired",
    "invalid": "The access token is invalid",
}


def _quote(value: str) -> str:
    # A quoted-string: escape quote and backslash, drop control characters (no CRLF
    # injection into the header).
    clean = "".join(ch for ch in value if ch >= " " and ch != "\x7f")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def www_authenticate(error: Unauthorized | Forbidden, realm: str) -> str | None:
    """Return the `WWW-Authenticate` value answering `error`, or None when none applies.

    A 401 (`Unauthorized`) gets one challenge per scheme kind the method accepts, e.g.
    `Basic realm="orders", charset="UTF-8"` or `Bearer realm="orders", error="invalid_token"`;
    a 403 from a bearer scheme gets `Bearer realm=..., error="insufficient_scope",
    scope="..."`. Other 403s get None: the header is left out.
    """
    r = _quote(realm)
    if isinstance(error, Forbidden):
        if error.kind is None or not error.kind.is_bearer:
            return None
        scopes = error.required_scopes or error.missing_scopes
        header = f'Bearer realm={r}, error="insufficient_scope"'
        if scopes:
            header += f", scope={_quote(' '.join(scopes))}"
        return header
    kind = error.kind
    kinds = error.alternatives or ((kind,) if kind is not None else ())
    if not kinds:
        return None
    challenges: list[str] = []
    bearer_done = False
    for k in dict.fromkeys(kinds):
        if k.is_bearer:
            if bearer_done:
                continue
            bearer_done = True
            challenge = f"Bearer realm={r}"
            # RFC 6750 3.1: no error code when the request carried no token.
            if kind is not None and kind.is_bearer and error.reason != "missing":
                description = _DESCRIPTIONS.get(error.reason, _DESCRIPTIONS["invalid"])
                challenge += f', error="invalid_token", error_description="{description}"'
            challenges.append(challenge)
        elif k is SchemeKind.BASIC:
            challenges.append(f'Basic realm={r}, charset="UTF-8"')
        else:
            # No registered scheme for API keys; this names the expectation for clients.
            challenges.append(f"APIKey realm={r}")
    return ", ".join(challenges)
