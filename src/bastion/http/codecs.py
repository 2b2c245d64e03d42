"""Media types a body may be written in: the codecs, the App's registry, `Accept` negotiation.

A `Codec` turns a value (a Struct, or JSON-like builtins) into bytes of its media type
and bytes back into builtins. The App starts with four, in this order of preference:

| media type | codec |
| --- | --- |
| `application/json` (and any `+json`) | msgspec's JSON |
| `application/msgpack` (`application/x-msgpack`) | msgspec's MessagePack |
| `application/cbor` | cbor2 |
| `text/plain` | the text itself: a String or Bytes body only, as Goa's text encoder |

`App(codecs=[...])` adds a codec of your own (or replaces one of a media type). The
response's codec is chosen from the request's `Accept`, by quality then by the order
above; a request body's from its `Content-Type`. Nothing acceptable is a 406, an unknown
`Content-Type` a 415, each naming the media types the method offers. With one codec
only (`Codecs([JSON])`), no request pays for negotiation.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from bastion.schema.duplicates import cbor_items, map_repeated_keys, msgpack_items
from bastion.schema.formats import dec_hook, enc_hook

__all__ = ["CBOR", "JSON", "MSGPACK", "TEXT", "Codec", "Codecs", "choose", "media_type_of",
           "parse_accept"]


@dataclass(frozen=True)
class Codec:
    """One media type: how a value is encoded to it and decoded from it.

    `encode(value)` takes a Struct or builtins; `decode(data)` returns builtins.
    `structured` is False for a codec that carries text only (`text/plain`): it is
    offered for String and Bytes bodies alone. `aliases` are other names of the type.
    `repeated_keys(data, value, root)`, for a format whose decoder merges a key given
    twice in one map, returns the path of every such key (`data` decoded into `value`;
    `root` goes in front of each path): a body that repeats a key is refused, as a JSON
    one is, since two parsers may keep different values of it.
    """

    media_type: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    structured: bool = True
    aliases: tuple[str, ...] = ()
    repeated_keys: Callable[[bytes, Any, str], list[str]] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The media type and its aliases, lower case."""
        return (self.media_type.lower(), *(a.lower() for a in self.aliases))


def _text_encode(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"text/plain carries a String or Bytes body, not {type(value).__name__}")


def _text_decode(data: bytes) -> Any:
    return data.decode("utf-8")


def _cbor_encode(value: Any) -> bytes:
    import cbor2

    return cbor2.dumps(msgspec.to_builtins(value, enc_hook=enc_hook, builtin_types=(bytes,)))


def _cbor_decode(data: bytes) -> Any:
    import cbor2

    # One item and nothing after it: `cbor2.loads` would ignore what follows the first
    # item, which another parser could read.
    stream = io.BytesIO(data)
    value = cbor2.CBORDecoder(stream).decode()
    if stream.tell() != len(data):
        raise ValueError(f"{len(data) - stream.tell()} bytes after the CBOR item")
    return value


def _cbor_repeated_keys(data: bytes, value: Any, root: str) -> list[str]:
    import cbor2

    # Re-encoding gives the body back only if no entry was merged (see bastion.schema.duplicates).
    if cbor2.dumps(value) == data:
        return []
    return map_repeated_keys(cbor_items(data), lambda a, b: cbor2.loads(data[a:b]), root)


_msgpack = msgspec.msgpack.Encoder(enc_hook=enc_hook)
_msgpack_decode = msgspec.msgpack.Decoder().decode


def _msgpack_repeated_keys(data: bytes, value: Any, root: str) -> list[str]:
    if _msgpack.encode(value) == data:
        return []
    return map_repeated_keys(msgpack_items(data), lambda a, b: _msgpack_decode(data[a:b]), root)


JSON = Codec("application/json", msgspec.json.Encoder(enc_hook=enc_hook).encode,
             msgspec.json.Decoder(dec_hook=dec_hook).decode)
"""JSON: the default; also chosen for any `+json` type and for a request with no type."""
MSGPACK = Codec("application/msgpack", _msgpack.encode, _msgpack_decode,
                aliases=("application/x-msgpack",), repeated_keys=_msgpack_repeated_keys)
"""MessagePack, through msgspec (Structs encoded directly)."""
CBOR = Codec("application/cbor", _cbor_encode, _cbor_decode,
             repeated_keys=_cbor_repeated_keys)
"""CBOR (RFC 8949), through cbor2."""
TEXT = Codec("text/plain", _text_encode, _text_decode, structured=False)
"""Plain text: the body is a String (UTF-8) or Bytes value, written as it is."""


def media_type_of(header: bytes | str) -> str:
    """The media type of a `Content-Type` value, lower case, parameters dropped."""
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    return text.split(";", 1)[0].strip().lower()


def parse_accept(header: str) -> list[tuple[str, float]]:
    """The media ranges of an `Accept` value with their qualities, best first.

    Order among equal qualities is kept, more specific ranges first (RFC 9110 §12.5.1).
    A range with a malformed quality is dropped.
    """
    out: list[tuple[float, int, int, str]] = []
    for index, item in enumerate(header.split(",")):
        media, *params = (p.strip() for p in item.split(";"))
        if not media or "/" not in media:
            continue
        q = 1.0
        for p in params:
            key, _, value = p.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if not 0 <= q <= 1:
            continue
        specific = 0 if media == "*/*" else 1 if media.endswith("/*") else 2
        out.append((-q, -specific, index, media.lower()))
    out.sort()
    return [(media, -q) for q, _, _, media in out]


class Codecs:
    """The App's codecs, in order of preference; `add` registers or replaces one."""

    def __init__(self, codecs: Iterable[Codec] = (JSON, MSGPACK, CBOR, TEXT)) -> None:
        self._codecs: list[Codec] = []
        for codec in codecs:
            self.add(codec)

    def add(self, codec: Codec) -> None:
        """Register `codec`, replacing the one of its media type if there is one."""
        names = set(codec.names)
        self._codecs = [c for c in self._codecs if not names & set(c.names)]
        self._codecs.append(codec)

    def __iter__(self) -> Any:
        return iter(self._codecs)

    def __len__(self) -> int:
        return len(self._codecs)

    def get(self, media_type: str) -> Codec | None:
        """The codec of `media_type` (a `+json` type is JSON's when not registered)."""
        media = media_type.lower()
        for codec in self._codecs:
            if media in codec.names:
                return codec
        if media.endswith("+json"):
            return self.get("application/json")
        return None

    def offered(self, *, text: bool) -> list[Codec]:
        """The codecs a body can be written with: all, or the structured ones only."""
        return [c for c in self._codecs if text or c.structured]


def choose(offered: list[Codec], accept: str) -> Codec | None:
    """The codec of `offered` the `Accept` value prefers, or None when none is acceptable.

    A range with `q=0` refuses what it names, even where a wildcard would accept it.
    """
    ranges = parse_accept(accept)
    refused = {media for media, q in ranges if q <= 0}
    allowed = [c for c in offered if not refused & set(c.names)] if refused else offered
    for media, q in ranges:
        if q <= 0:
            break  # sorted best first: the rest are refusals
        for codec in allowed:
            if _matches(media, codec):
                return codec
    return None


def _matches(media: str, codec: Codec) -> bool:
    if media == "*/*":
        return True
    if media.endswith("/*"):
        prefix = media[:-1]
        return any(n.startswith(prefix) for n in codec.names)
    if media in codec.names:
        return True
    return media.endswith("+json") and codec.media_type == "application/json"
