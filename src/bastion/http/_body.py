"""Reading a request body: the size limit, and the content encodings a body may carry.

The limit counts the bytes received and, for an encoded body, the bytes decoded: a body
over it is 413 as soon as it passes it, whatever the client announced. `gzip`
(`x-gzip`), `deflate` (zlib-wrapped as RFC 9110 says, or raw as some clients send it)
and `identity` are decoded as the body arrives; any other `Content-Encoding` is 415
naming it, and a body that is not what its encoding claims is 400 naming the encoding.
"""

from __future__ import annotations

import zlib
from typing import Any

from bastion.errors import MalformedBody, RequestTimeout
from bastion.http.errors import HTTPError
from bastion.types import Receive

__all__ = ["read_body", "read_encoded", "read_more", "too_large", "unreadable_body"]

#: Content-Encoding values a request body may carry, with zlib's window bits for each.
_ENCODINGS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS,
              b"deflate": zlib.MAX_WBITS}
_IDENTITY = b"identity"


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read the whole request body, or raise 413 as soon as it passes `limit` bytes.

    A body that does not arrive within the server's READ_TIMEOUT is a 408, one whose
    framing is broken a 400 (see `unreadable_body`).
    """
    try:
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise too_large(limit)
            return body
        return await read_more(receive, body, limit)
    except (RequestTimeout, MalformedBody) as exc:
        raise unreadable_body(exc) from None


async def read_more(receive: Receive, body: bytes, limit: int) -> bytes:
    """Read the rest of a body whose first chunk was `body`; 413 past `limit` bytes."""
    chunks = [body]
    size = len(body)
    if size > limit:
        raise too_large(limit)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client_disconnected", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_encoded(receive: Receive, limit: int, coding: bytes) -> bytes:
    """Read a body sent with `Content-Encoding: coding`, decoded, at most `limit` bytes.

    Both the bytes received and the bytes decoded count against `limit`, and decoding
    stops as soon as it would pass it, so a small body that expands enormously (a zip
    bomb) costs at most `limit` bytes of memory.
    """
    name = coding.strip().lower()
    if name == _IDENTITY:
        return await read_body(receive, limit)
    wbits = _ENCODINGS.get(name)
    if wbits is None:
        shown = coding.decode("latin-1")
        raise HTTPError(
            415, "unsupported_media_type",
            f"Content-Encoding {shown!r} is not supported; send gzip, deflate or identity",
        )
    label = name.decode("latin-1")
    inflater: Any = None
    out: list[bytes] = []
    size = 0
    received = 0
    head = b""
    done = False
    while not done:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client_disconnected", "the client went away")
        chunk: bytes = message.get("body", b"")
        done = not message.get("more_body", False)
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        if inflater is None and name == b"deflate" and len(chunk) < 2 and not done:
            head += chunk  # two bytes tell a zlib stream from a raw one
            if len(head) < 2:
                continue
            chunk, head = head, b""
        elif head:
            chunk, head = head + chunk, b""
        while chunk:
            if inflater is None:
                bits = wbits
                if name == b"deflate" and not _is_zlib(chunk):
                    bits = -zlib.MAX_WBITS  # a raw deflate stream, as some clients send
                inflater = zlib.decompressobj(bits)
            try:
                data = inflater.decompress(chunk, limit - size + 1)
            except zlib.error:
                raise HTTPError(
                    400, "bad_request", f"request body is not valid {label} data"
                ) from None
            size += len(data)
            if size > limit:
                raise too_large(limit)
            out.append(data)
            # Input the size bound held back, or a further gzip member after this one.
            chunk = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof else b"")
            if inflater.eof:
                inflater = None
    if inflater is not None:
        raise HTTPError(400, "bad_request", f"request body is not valid {label} data: "
                        "it ends too soon")
    return b"".join(out)


def _is_zlib(head: bytes) -> bool:
    # RFC 1950: deflate method (8) in the low nibble, and a header checksum divisible by 31.
    return len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


def unreadable_body(exc: RequestTimeout | MalformedBody) -> HTTPError:
    """The answer to a body the server could not read: late (408) or malformed (400).

    Either way nothing more is read from the connection, so the answer closes it.
    """
    close = [(b"connection", b"close")]
    if isinstance(exc, RequestTimeout):
        return HTTPError(408, "request_timeout",
                         "the request body was not received within READ_TIMEOUT",
                         temporary=True, timeout=True, headers=close)
    return HTTPError(400, "bad_request", str(exc), headers=close)


def too_large(limit: int) -> HTTPError:
    """The 413 for a body past `limit` bytes."""
    return HTTPError(413, "payload_too_large", f"request body is over the {limit} byte limit")
