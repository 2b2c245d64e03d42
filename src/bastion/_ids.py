"""Ids of requests and errors: one generator, and the one rule for ids clients send.

An id only has to be unique enough to match a response with its log lines and trace, not
secret, so it comes from the fast PRNG (reading the OS's entropy per request is slow).
"""

from __future__ import annotations

import random
import re
from typing import Final

__all__ = ["ID_BITS", "id_bits", "is_valid_request_id", "new_id"]

# Short, and free of anything that could forge a log line, a header or a metadata value.
_RULE: Final = r"[A-Za-z0-9._:+=/-]{1,128}"
_REQUEST_ID: Final = re.compile(_RULE.encode())
_REQUEST_ID_TEXT: Final = re.compile(_RULE)

#: How many random bits an id has: `new_id()` is their 16 hex digits.
ID_BITS: Final = 64
#: The fast form of `new_id()` for the request log's hot path, where the call costs as
#: much as the id: `"%016x" % id_bits(ID_BITS)` is `new_id()`, inlined (`%` formats an
#: int in a third of the time of an f-string's format spec).
id_bits: Final = random.getrandbits


def new_id() -> str:
    """A new 16-hex-digit id."""
    return "%016x" % id_bits(ID_BITS)  # noqa: UP031


def is_valid_request_id(value: bytes | str) -> bool:
    """Whether a client's `X-Request-ID` (header bytes, or gRPC metadata text) may be used
    as the request's id.
    """
    if isinstance(value, bytes):
        return _REQUEST_ID.fullmatch(value) is not None
    return _REQUEST_ID_TEXT.fullmatch(value) is not None
