"""Where payload attributes come from besides the message: the metadata, read once per call.

Credentials are read as on HTTP (`authorization: Bearer ...` or `Basic ...`,
`x-api-key`), other attributes from the keys `Metadata(...)` names. Also here: the
names a bad field is given back to the client under, the peer's address, and the
ASGI-like view of a call the debug authoriser reads.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bastion.dsl._grpc import GRPCExpr
from bastion.grpc._codec import Codec
from bastion.grpc._proto import ProtoMessage

__all__ = ["Authorize", "Source", "authorized", "peer_of", "read_metadata", "renamer",
           "sources_of", "stream_path"]

#: Decides whether a caller may have its own debug logs (gets an ASGI-like scope).
Authorize = Callable[[dict[str, Any]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Source:
    """Where one payload attribute comes from in the metadata, and how to read it."""

    attr: str
    key: str
    how: str  # "text", "list", "bytes", "bearer", "basic-username", "basic-password"


def sources_of(m: Any, g: GRPCExpr) -> list[Source]:
    """Where each metadata attribute of method `m` comes from, and how it is read."""
    obj = m.payload.object if m.payload is not None else None
    attrs = obj.attributes if obj is not None else {}
    out = []
    for name, key in g.metadata.items():
        a = attrs[name]
        kind = a.credential
        if kind in ("token", "accesstoken"):
            how = "bearer"
        elif kind in ("username", "password") and key == "authorization":
            how = f"basic-{kind}"
        elif key.endswith("-bin"):
            how = "bytes"
        elif type(a.type).__name__ == "ArrayExpr":
            how = "list"
        else:
            how = "text"
        out.append(Source(name, key, how))
    return out


def renamer(request: ProtoMessage, metadata: Mapping[str, str]) -> Callable[[str], tuple[str,
                                                                                       str]]:
    """A bad field's path, as the client wrote it: a metadata key, or the message's fields."""

    def rename(path: str) -> tuple[str, str]:
        if not path:
            # A payload that is not an object is the message's one field.
            return (request.fields[0].name if request.wrapper else "message"), "message"
        base = path.partition(".")[0].partition("[")[0]
        if base in metadata:
            return metadata[base], "metadata"
        msg: ProtoMessage | None = request
        out = []
        for segment in path.split("."):
            name, b, idx = segment.partition("[")
            f = msg.by_attribute().get(name) if msg is not None else None
            out.append((f.name if f is not None else name) + (b + idx))
            msg = f.message if f is not None else None
        return ".".join(out), "message"

    return rename


def read_metadata(sources: list[Source], metadata: list[tuple[str, Any]],
                  values: dict[str, Any]) -> None:
    """Put the payload attributes `sources` name into `values`, read from `metadata`."""
    found: dict[str, list[Any]] = {}
    for key, value in metadata:
        found.setdefault(key, []).append(value)
    for src in sources:
        got = found.get(src.key)
        if not got:
            continue
        how = src.how
        if how == "list":
            values[src.attr] = got
        elif how == "bearer":
            token = _bearer(got[0])
            if token is not None:
                values[src.attr] = token
        elif how.startswith("basic-"):
            pair = _basic(got[0])
            if pair is not None:
                values[src.attr] = pair[0] if how == "basic-username" else pair[1]
        else:
            values[src.attr] = got[0]


def stream_path(path: str, codec: Codec | None) -> str:
    """A streamed message's bad field, named by the streaming request's fields."""
    if codec is None or not path:
        return path or "message"
    fields = codec.message.by_attribute()
    head, sep, rest = path.partition(".")
    name, b, idx = head.partition("[")
    f = fields.get(name)
    return (f.name if f is not None else name) + b + idx + sep + rest


def _bearer(value: str) -> str | None:
    scheme, sep, rest = value.partition(" ")
    if not sep:
        return value or None
    return rest.strip() or None if scheme.lower() == "bearer" else None


def _basic(value: str) -> tuple[str, str] | None:
    scheme, sep, rest = value.partition(" ")
    if not sep or scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(rest.strip(), validate=True).decode(
            "utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


def peer_of(text: str) -> tuple[str, int | None]:
    """`ipv4:127.0.0.1:5050` / `ipv6:[::1]:5050` -> (address, port)."""
    kind, _, rest = text.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return rest or text, None
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else None


async def authorized(authorize: Authorize, metadata: Iterable[tuple[str, Any]], path: str,
                     peer: str, port: int | None) -> bool:
    """Whether `authorize` lets this caller have its debug logs (a refusal is a no)."""
    # The debug authoriser reads an HTTP-like request: the metadata are its headers.
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in metadata
               if isinstance(v, str)]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers,
             "query_string": b"", "client": (peer, port or 0)}
    try:
        return bool(await authorize(scope))
    except PermissionError:
        return False

