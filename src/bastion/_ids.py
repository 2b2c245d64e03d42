"""Ids of requests and errors: one generator, and the one rule for ids clients send.

An id only has to be unique enough to match a response with its log lines and trace, not
secret, so it comes from the fast PRNG (reading the OS's entropy per request is slow).
"""

from __future__ import annotations

import random
import re
from typing import Final

__all__ = ["is_valid_request_id", "new_id"]

# Short, and free of anything that could forge a log line or a header.
_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:+=/-]{1,128}")
_bits = random.getrandbits


def new_id() -> str:
    """A new 16-hex-digit id."""
    return f"{_bits(64):016x}"


def is_valid_request_id(value: bytes) -> bool:
    """Whether a client's `X-Request-ID` may be used as the request's id."""
    return _REQUEST_ID.fullmatch(value) is not None
