"""Redaction: one rule for which names hold secrets, and one marker for their values.

A name is sensitive when, decoded as the server decodes it (percent-escapes, `+` as a
space), lower-cased and stripped of its separators (`-`, `_`, spaces), it is one of a
`Redactor`'s names: so `api_key`, `API-Key`, `api%5Fkey`, `+apikey` and `api key` are one
name. The names are `DEFAULT_SENSITIVE_NAMES`, plus what the App adds: the wire names of
the design's credential attributes and of attributes marked `meta={"sensitive": True}`,
and the names listed in `LOG_REDACT`.

The value of a sensitive name becomes `REDACTED` everywhere Bastion writes it: query
strings and URLs (in log lines and spans, as the OpenTelemetry HTTP conventions ask for
`url.full`), user:password in a URL, free text routed from other libraries' logs, payload
logs and error bodies. The name itself is kept as it was sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_CREDENTIAL_PARAMS",
    "DEFAULT_SENSITIVE_NAMES",
    "REDACTED",
    "Redactor",
    "normalize",
    "redact_query",
    "redact_url",
    "redactor_with",
]

#: What every redacted value reads, in logs, spans and bodies alike.
REDACTED: Final = "REDACTED"

#: Names whose values are always redacted (compared as `normalize` makes them).
DEFAULT_SENSITIVE_NAMES: Final = frozenset(
    {
        "access_token",
        "api_key",
        "api_token",
        "apikey",
        "auth",
        "auth_token",
        "authorization",
        "awsaccesskeyid",
        "bearer",
        "client_secret",
        "code",
        "cookie",
        "credential",
        "credentials",
        "id_token",
        "jwt",
        "key",
        "passcode",
        "passwd",
        "password",
        "private_key",
        "proxy-authorization",
        "pwd",
        "refresh_token",
        "secret",
        "secret_key",
        "session",
        "session_id",
        "session_token",
        "set-cookie",
        "sig",
        "signature",
        "token",
        "x-amz-credential",
        "x-amz-security-token",
        "x-amz-signature",
        "x-api-key",
        "x-auth-token",
        "x-goog-signature",
    }
)
#: The former name of `DEFAULT_SENSITIVE_NAMES`.
DEFAULT_CREDENTIAL_PARAMS: Final = DEFAULT_SENSITIVE_NAMES

_SEPARATORS: Final = str.maketrans("", "", "-_ ")
_MAX_SEEN: Final = 4096
# `name=value` in free text: a name of URL-ish characters right before `=`.
_PAIR: Final = re.compile(r"([\w.%+-]+)=([^\s&;#\"',)}\]>]*)")
# `name: value`, `"name": "value"`, `name: Bearer value`.
_COLON: Final = re.compile(
    r"""([\w.%+-]+)(["']?)(\s*:\s*)(["']?)((?:(?:bearer|basic|digest|token)\s+)?[^\s"',}&]*)""",
    re.IGNORECASE,
)
# user:password@ after a scheme.
_USERINFO: Final = re.compile(r"(?<=://)[^/\s@:]+:[^/\s@]*@")


def normalize(name: str) -> str:
    """Return `name` as compared: percent-decoded, `+` as space, lower-case, no `-`/`_`/spaces."""
    if "%" in name or "+" in name:
        name = unquote_plus(name)
    return name.lower().translate(_SEPARATORS)


class Redactor:
    """Knows which names are sensitive and replaces their values with `REDACTED`.

    Built once (by the App, from the design and the environment); its methods are what
    the request log, spans, the HTTP client, routed library logs and payload logs call.
    """

    __slots__ = ("_seen", "names")

    def __init__(self, names: Iterable[str] = (), *, defaults: bool = True) -> None:
        base = DEFAULT_SENSITIVE_NAMES if defaults else ()
        #: The sensitive names, normalized.
        self.names: frozenset[str] = frozenset(normalize(n) for n in (*base, *names) if n)
        # Names as sent -> sensitive or not: a request repeats the same few parameter names,
        # so the hot path is one dict lookup. Bounded; names only, never values.
        self._seen: dict[str, bool] = {}

    def with_names(self, names: Iterable[str]) -> Redactor:
        """Return a Redactor knowing these names too (this one when nothing is new)."""
        extra = frozenset(normalize(n) for n in names if n) - self.names
        if not extra:
            return self
        return Redactor((*self.names, *extra), defaults=False)

    def is_sensitive(self, name: str) -> bool:
        """Return whether `name` (as sent: encoded, any case or separator) is sensitive."""
        seen = self._seen.get(name)
        if seen is not None:
            return seen
        sensitive = normalize(name) in self.names
        if len(self._seen) < _MAX_SEEN:
            self._seen[name] = sensitive
        return sensitive

    def query(self, query: str) -> str:
        """Return `query` (no leading `?`) with the values of sensitive parameters replaced.

        The rest is kept byte for byte, so a query with no secret in it comes back as is.
        """
        if not query:
            return query
        parts = query.split("&")
        changed = False
        for i, part in enumerate(parts):
            name, sep, _ = part.partition("=")
            if sep and self.is_sensitive(name):
                parts[i] = f"{name}={REDACTED}"
                changed = True
        return "&".join(parts) if changed else query

    def url(self, url: str) -> str:
        """Return `url` with sensitive query values and any user:password replaced."""
        try:
            parts = urlsplit(url)
        except ValueError:
            # An unparsable URL cannot be scrubbed reliably; never echo it.
            return REDACTED
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}:{REDACTED}@{netloc.rpartition('@')[2]}"
        query = self.query(parts.query)
        if netloc == parts.netloc and query == parts.query:
            return url
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

    def text(self, text: str) -> str:
        """Return free text (another library's log message) with secrets in it replaced.

        Covers `name=value` (query strings, logfmt), `name: value` and `"name": "value"`
        (headers, dict reprs, JSON) and user:password in URLs.
        """
        if "=" not in text and ":" not in text:
            return text
        sensitive = self.is_sensitive

        def pair(m: re.Match[str]) -> str:
            return f"{m[1]}={REDACTED}" if m[2] and sensitive(m[1]) else m[0]

        def colon(m: re.Match[str]) -> str:
            if not m[5] or not sensitive(m[1]):
                return m[0]
            return f"{m[1]}{m[2]}{m[3]}{m[4]}{REDACTED}"

        text = _USERINFO.sub(f"{REDACTED}:{REDACTED}@", text)
        if "=" in text:
            text = _PAIR.sub(pair, text)
        if ":" in text:
            text = _COLON.sub(colon, text)
        return text

    def data(self, value: Any) -> Any:
        """Return JSON-able `value` with the values of sensitive keys replaced, at any depth.

        Dicts and lists are copied where something changed; `None` values are kept (a
        missing credential is not a secret).
        """
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and item is not None and self.is_sensitive(key):
                    out[key] = REDACTED
                else:
                    out[key] = self.data(item)
            return out
        if isinstance(value, list):
            return [self.data(item) for item in value]
        return value

    def __repr__(self) -> str:
        return f"<Redactor {len(self.names)} names>"


#: The defaults alone, for code with no App at hand.
DEFAULT_REDACTOR: Final = Redactor()


def redactor_with(extra: Iterable[str] = ()) -> Redactor:
    """Return a Redactor knowing the defaults plus `extra` (e.g. the design's API-key params)."""
    return DEFAULT_REDACTOR.with_names(extra)


def redact_query(query: str, names: Redactor = DEFAULT_REDACTOR) -> str:
    """Return `query` (no leading `?`) with the values of sensitive parameters replaced."""
    return names.query(query)


def redact_url(url: str, names: Redactor = DEFAULT_REDACTOR) -> str:
    """Return `url` with sensitive query values and any user:password replaced by REDACTED."""
    return names.url(url)
