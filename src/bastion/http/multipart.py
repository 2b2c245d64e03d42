"""`multipart/form-data` bodies, read as they arrive: parts, their data, uploaded files.

python-multipart parses the bytes; this module pulls the body from the ASGI `receive`
only as fast as the parts are read, so a part streams to whoever reads it. The limits
hold as the bytes come: the whole body (MAX_BODY_BYTES, or the method's `BodyLimits`),
the number of parts, and the size of a part that is not a file (a field). A bad
boundary, a broken part or a body that ends before its closing boundary is a 400 naming
the part (its index and its name).

`Upload` is what a `File` attribute of the payload gets: the file spooled to memory up
to 1 MiB and to a temporary file past that, with its filename, content type and size,
read back with `await upload.read()` or `async for chunk in upload`.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Final

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from bastion.errors import MalformedBody, RequestTimeout
from bastion.http._body import too_large, unreadable_body
from bastion.http.errors import HTTPError
from bastion.schema.formats import CustomType
from bastion.types import Receive

__all__ = ["MultipartReader", "Part", "Upload", "boundary_of"]

#: Bytes of an upload kept in memory before it is spooled to a temporary file.
SPOOL_BYTES: Final = 1 << 20
_CHUNK: Final = 64 * 1024
_PART, _DATA, _END_PART, _END = range(4)


def boundary_of(content_type: bytes) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type, or a 400 saying what is wrong."""
    media, params = parse_options_header(content_type)
    if media != b"multipart/form-data":
        raise HTTPError(415, "unsupported_media_type",
                        "request body must be multipart/form-data, not "
                        f"{content_type.decode('latin-1')!r}")
    boundary = params.get(b"boundary", b"")
    # RFC 2046 §5.1.1: 1 to 70 characters, none of them a control character.
    if not 0 < len(boundary) <= 70 or any(b < 0x20 or b > 0x7E for b in boundary):
        raise HTTPError(400, "bad_request", "multipart/form-data needs a boundary of 1 to 70 "
                        "printable characters in its Content-Type")
    return boundary


class Part:
    """One part of a multipart body: its headers, then its data as it arrives."""

    __slots__ = ("_done", "_limit", "_read", "_reader", "content_type", "filename", "headers",
                 "index", "name")

    def __init__(self, reader: MultipartReader, index: int,
                 headers: list[tuple[str, str]], limit: int | None) -> None:
        self._reader = reader
        #: The part's position in the body, from 0.
        self.index = index
        #: The part's headers, names lower case.
        self.headers = headers
        disposition = next((v for k, v in headers if k == "content-disposition"), "")
        _, params = parse_options_header(disposition)
        #: The form field's name (Content-Disposition `name`), "" when it has none.
        self.name = params.get(b"name", b"").decode("utf-8", "replace")
        raw = params.get(b"filename")
        #: The file's name as the client gave it (never a path to trust), or None.
        self.filename = raw.decode("utf-8", "replace") if raw is not None else None
        #: The part's Content-Type (text/plain for a field by default, RFC 7578).
        self.content_type = next((v for k, v in headers if k == "content-type"),
                                 "application/octet-stream" if raw is not None else "text/plain")
        self._done = False
        self._read = 0
        self._limit = limit if self.filename is None else None

    @property
    def label(self) -> str:
        """How an error names this part: `part 2 ('file')`."""
        return f"part {self.index} ({self.name!r})" if self.name else f"part {self.index}"

    async def chunk(self) -> bytes:
        """The next piece of the part's data; b"" once the part has ended."""
        while not self._done:
            kind, data = await self._reader._next(self)
            if kind == _DATA:
                self._read += len(data)
                if self._limit is not None and self._read > self._limit:
                    raise HTTPError(413, "payload_too_large",
                                    f"{self.label} is over the {self._limit} byte limit of a "
                                    "form field", field=self.name or None)
                if data:
                    piece: bytes = data
                    return piece
            else:
                self._done = True
        return b""

    async def read(self) -> bytes:
        """The rest of the part's data, whole."""
        out = []
        while chunk := await self.chunk():
            out.append(chunk)
        return b"".join(out)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.chunk():
            yield chunk


class MultipartReader:
    """The parts of a multipart body: `async for part in reader`, each read in turn.

    Moving to the next part skips what is left of the current one. `max_parts` and
    `max_field_bytes` bound the parts and each field; `limit` the whole body.
    """

    def __init__(self, receive: Receive, boundary: bytes, *, limit: int, max_parts: int,
                 max_field_bytes: int) -> None:
        self._receive = receive
        self._limit = limit
        self._max_parts = max_parts
        self._max_field = max_field_bytes
        self._events: deque[tuple[int, Any]] = deque()
        self._size = 0
        self._eof = False
        self._ended = False
        self._count = 0
        self._part: Part | None = None
        self._headers: list[tuple[str, str]] = []
        self._field = b""
        self._value = b""
        self._last_name = ""
        callbacks: Any = {
            "on_part_begin": self._on_begin,
            "on_part_data": self._on_data,
            "on_part_end": self._on_part_end,
            "on_header_field": self._on_field,
            "on_header_value": self._on_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers,
            "on_end": self._on_end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    def __aiter__(self) -> MultipartReader:
        return self

    async def __anext__(self) -> Part:
        current = self._part
        if current is not None:
            while await current.chunk():
                pass  # skip what the reader left of it
        while True:
            kind, value = await self._next(None)
            if kind == _PART:
                if self._count >= self._max_parts:
                    raise HTTPError(413, "payload_too_large", "the multipart body has more "
                                    f"than {self._max_parts} parts")
                part = Part(self, self._count, value, self._max_field)
                self._count += 1
                self._part = part
                return part
            if kind == _END:
                self._part = None
                raise StopAsyncIteration

    # -- pulling the body ------------------------------------------------------------------

    async def _next(self, part: Part | None) -> tuple[int, Any]:
        while not self._events:
            if self._eof:
                return _END, None
            await self._pull(part)
        return self._events.popleft()

    async def _pull(self, part: Part | None) -> None:
        try:
            message = await self._receive()
        except (RequestTimeout, MalformedBody) as exc:
            raise unreadable_body(exc) from None
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client_disconnected", "the client went away")
        chunk: bytes = message.get("body", b"")
        self._size += len(chunk)
        if self._size > self._limit:
            raise too_large(self._limit)
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise HTTPError(400, "bad_request", f"multipart body: {self._where()} is "
                            f"malformed: {exc}") from None
        if not message.get("more_body", False):
            self._eof = True
            if not self._ended:
                what = "its first boundary" if self._count == 0 and not self._events else (
                    "its closing boundary")
                raise HTTPError(400, "bad_request", f"multipart body: {self._where()} ends "
                                f"before {what} (the body is truncated or its boundary is "
                                "not the one its Content-Type gives)")

    def _where(self) -> str:
        # The part being parsed is the last one begun (the reader may still be behind it).
        index = self._count + sum(1 for kind, _ in self._events if kind == _PART)
        if index == 0:
            return "the body"
        name = self._last_name
        return f"part {index - 1} ({name!r})" if name else f"part {index - 1}"

    # -- parser callbacks --------------------------------------------------------------------

    def _on_begin(self) -> None:
        self._headers = []

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((self._field.decode("latin-1").lower(),
                              self._value.decode("utf-8", "replace")))
        self._field = self._value = b""

    def _on_headers(self) -> None:
        disposition = next((v for k, v in self._headers if k == "content-disposition"), "")
        self._last_name = parse_options_header(disposition)[1].get(b"name", b"").decode(
            "utf-8", "replace")
        self._events.append((_PART, self._headers))

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append((_DATA, data[start:end]))

    def _on_part_end(self) -> None:
        self._events.append((_END_PART, None))

    def _on_end(self) -> None:
        self._ended = True
        self._events.append((_END, None))


class Upload(CustomType):
    """A file of a multipart request, spooled: memory up to 1 MiB, a temporary file past it.

    `filename` is what the client said (never a path to trust), `content_type` the
    part's type, `size` its length in bytes. Read it with `await upload.read()`, or in
    chunks with `async for chunk in upload`; the App closes it after the request.
    """

    __slots__ = ("_file", "content_type", "filename", "headers", "name", "size")

    def __init__(self, part: Part) -> None:
        self.name = part.name
        self.filename = part.filename
        self.content_type = part.content_type
        self.headers = part.headers
        self.size = 0
        self._file: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115

    async def spool(self, part: Part) -> None:
        """Read `part` (the one this Upload was made of) whole, then go back to its start."""
        write = self._file.write
        while chunk := await part.chunk():
            write(chunk)
            self.size += len(chunk)
        self._file.seek(0)

    async def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes from the current position (all that is left with -1)."""
        data: bytes = self._file.read(size)
        return data

    async def seek(self, offset: int) -> None:
        """Move to byte `offset` of the file."""
        self._file.seek(offset)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := self._file.read(_CHUNK):
            yield chunk

    def close(self) -> None:
        """Drop the spooled data (the temporary file is removed)."""
        self._file.close()

    def to_wire(self) -> Any:
        """What logs show of the upload: its name, filename, type and size, never its bytes."""
        return {"name": self.name, "filename": self.filename,
                "content_type": self.content_type, "size": self.size}

    def __repr__(self) -> str:
        return (f"Upload(name={self.name!r}, filename={self.filename!r}, "
                f"content_type={self.content_type!r}, size={self.size})")
