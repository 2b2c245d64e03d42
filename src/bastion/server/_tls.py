"""The TLS context of the API listener: the configured certificate, TLS 1.2 at least."""

from __future__ import annotations

import ssl
from pathlib import Path

from bastion.errors import ConfigError

__all__ = ["server_context"]


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """Return a server context for the certificate and key; ConfigError if they do not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        # The key's content never reaches the message: only the paths and the reason.
        raise ConfigError(
            [f"TLS_CERT_FILE={str(cert_file)!r}, TLS_KEY_FILE={str(key_file)!r}: "
             f"cannot load the certificate and key ({exc.__class__.__name__}: "
             f"{getattr(exc, 'reason', None) or exc})"]
        ) from None
    return context
