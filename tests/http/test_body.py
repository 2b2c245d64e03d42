"""Reading a body: the limit on bytes received and decoded, and each content encoding."""

from __future__ import annotations

import gzip
import zlib

import pytest

from bastion.http._body import read_encoded
from bastion.http.errors import HTTPError
from tests.support.asgi import Wire

DATA = b'{"sku": "ABC-1", "qty": 1, "note": "' + b"n" * 300 + b'"}'


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [("gzip", gzip.compress(DATA)), ("deflate", zlib.compress(DATA)),
     ("deflate", raw_deflate(DATA)), ("identity", DATA)],
)
@pytest.mark.parametrize("size", [1, 2, 3, 64, 100_000])
async def test_every_encoding_decodes_in_chunks_of_any_size(
    coding: str, encoded: bytes, size: int
) -> None:
    wire = Wire([encoded[i:i + size] for i in range(0, len(encoded), size)])
    assert await read_encoded(wire.receive, 10_000, coding.encode()) == DATA


async def test_gzip_members_follow_one_another() -> None:
    body = gzip.compress(DATA[:50]) + gzip.compress(DATA[50:])
    assert await read_encoded(Wire([body]).receive, 10_000, b"gzip") == DATA


@pytest.mark.parametrize(
    ("coding", "body", "status"),
    [(b"gzip", gzip.compress(DATA)[:-9], 400),  # cut short
     (b"gzip", gzip.compress(DATA) + b"junk", 400),  # no second member
     (b"deflate", b"\x01", 400),
     (b"zstd", b"x", 415)],
)
async def test_what_cannot_be_decoded_is_refused(coding: bytes, body: bytes, status: int) -> None:
    with pytest.raises(HTTPError) as info:
        await read_encoded(Wire([body]).receive, 10_000, coding)
    assert info.value.status == status
    assert coding.decode() in info.value.message


async def test_decoding_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"0" * 5_000_000)
    with pytest.raises(HTTPError) as info:
        await read_encoded(Wire([bomb]).receive, 1000, b"gzip")
    assert info.value.status == 413
