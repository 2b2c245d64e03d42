"""Static files: what a design's `Files(path, filename)` serves, and nothing outside it.

`Files("/openapi.json", "gen/openapi.json")` serves one file; `Files("/static/{*path}",
"public/")` the files of a folder, the rest of the request path naming one. A request
never reaches outside the folder: a `..` segment (however it was encoded — the router
decodes each segment after splitting the path, so `%2e%2e` and `..%2F` arrive as `..`),
a NUL byte, or a symlink whose target is outside is answered 404, as a file that does
not exist. A folder is served by its `index.html`, never listed.

Answers carry `Content-Type` (from the extension, `charset=utf-8` for text),
`Content-Length`, `Last-Modified`, a strong `ETag` (size and modification time),
`Accept-Ranges: bytes`; `If-None-Match` and `If-Modified-Since` give 304, a single
`Range` (with `If-Range`) 206 or, beyond the end, 416. Other ranges get the whole file.
"""

from __future__ import annotations

import asyncio
import email.utils
import mimetypes
import os
import stat
from typing import IO

from bastion.dsl.expr import FileServerExpr
from bastion.http.errors import HTTPError, note_error
from bastion.types import ErrorNote, Receive, Scope, Send

__all__ = ["FileServer"]

_CHUNK = 256 * 1024
_CONDITIONS = frozenset({b"if-none-match", b"if-modified-since", b"range", b"if-range"})
# Beyond this, reads go to a thread so a slow disk does not hold the event loop.
_INLINE = 1024 * 1024
# Types Python's built-in table lacks, as Goa users expect them.
_EXTRA_TYPES = {".yaml": "application/yaml", ".yml": "application/yaml",
                ".wasm": "application/wasm", ".mjs": "text/javascript"}


class FileServer:
    """Serves one `Files` declaration: a handler for the muxer, compiled at startup."""

    def __init__(self, files: FileServerExpr) -> None:
        self.files = files
        self.root = os.path.realpath(files.root)
        self.wildcard = files.path.rstrip("/").rsplit("/", 1)[-1][2:-1] if files.is_dir else None
        self._types = mimetypes.MimeTypes()

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        """Answer one GET or HEAD request for a file."""
        scope["bastion.route"] = self.files.full_path
        path = self._resolve(params.get(self.wildcard, "") if self.wildcard else "")
        opened = _open(path) if path is not None else None
        if opened is None:
            await _not_found(scope, send)
            return
        f, info, path = opened
        with f:
            await self._serve(scope, send, f, info, path)

    def _resolve(self, rel: str) -> str | None:
        """The real path of the file `rel` names inside the root, or None."""
        if not self.wildcard:
            return self.root
        if "\x00" in rel:
            return None
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            return None
        real = os.path.realpath(os.path.join(self.root, *parts))
        if real != self.root and not real.startswith(self.root.rstrip(os.sep) + os.sep):
            return None  # a symlink leading out of the folder
        return real

    async def _serve(
        self, scope: Scope, send: Send, f: IO[bytes], info: os.stat_result, path: str
    ) -> None:
        size = info.st_size
        etag = f'"{size:x}-{info.st_mtime_ns:x}"'
        modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", self._type(path).encode("latin-1")),
            (b"last-modified", modified.encode("latin-1")),
            (b"etag", etag.encode("latin-1")),
            (b"accept-ranges", b"bytes"),
            (b"x-content-type-options", b"nosniff"),
        ]
        request = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in _CONDITIONS}
        if _not_modified(request, etag, info.st_mtime):
            await send({"type": "http.response.start", "status": 304,
                        "headers": [h for h in headers if h[0] != b"content-type"]})
            await send({"type": "http.response.body", "body": b""})
            return
        status, start, length = 200, 0, size
        wanted = request.get("range")
        if wanted is not None and _range_applies(request.get("if-range"), etag, modified):
            span = _byte_range(wanted, size)
            if isinstance(span, str):  # unsatisfiable
                headers = [(b"content-range", f"bytes */{size}".encode("latin-1"))]
                await _send_error(scope, send, HTTPError(
                    416, "range_not_satisfiable", f"the file has {size} bytes",
                    headers=headers))
                return
            if span is not None:
                start, end = span
                status, length = 206, end - start + 1
                headers.append((b"content-range",
                                f"bytes {start}-{end}/{size}".encode("latin-1")))
        headers.append((b"content-length", b"%d" % length))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope["method"] == "HEAD" or length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        f.seek(start)
        left = length
        threaded = length > _INLINE
        while left > 0:
            n = min(_CHUNK, left)
            chunk = await asyncio.to_thread(f.read, n) if threaded else f.read(n)
            if not chunk:  # the file shrank while being served: end what was promised
                break
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
        if left > 0:
            await send({"type": "http.response.body", "body": b""})

    def _type(self, path: str) -> str:
        ext = os.path.splitext(path)[1].lower()
        found = _EXTRA_TYPES.get(ext) or self._types.guess_type(path, strict=False)[0]
        if found is None:
            return "application/octet-stream"
        if found.startswith("text/") or found in ("application/javascript", "image/svg+xml"):
            return f"{found}; charset=utf-8"
        return found


def _open(path: str) -> tuple[IO[bytes], os.stat_result, str] | None:
    """The file at `path` (a folder's index.html), opened, with its status; or None."""
    for candidate in (path, os.path.join(path, "index.html")):
        try:
            f = open(candidate, "rb")  # noqa: SIM115 - closed by the caller's `with`
        except OSError:
            continue
        info = os.fstat(f.fileno())
        if stat.S_ISREG(info.st_mode):
            return f, info, candidate
        f.close()
    return None


def _not_modified(request: dict[str, str], etag: str, mtime: float) -> bool:
    match = request.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = request.get("if-modified-since")
    if since is not None:
        try:
            when = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        return int(mtime) <= when.timestamp()
    return False


def _range_applies(if_range: str | None, etag: str, modified: str) -> bool:
    # RFC 9110 13.1.5: the range is served only if the representation is still the one
    # the client has (a strong ETag, or the exact Last-Modified date).
    return if_range is None or if_range.strip() in (etag, modified)


def _byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """One `bytes=a-b` range as (first, last); "unsatisfiable"; None to send it all."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # another unit, or several ranges: the whole file
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "" or int(last) == 0:
            return None if last == "" else "unsatisfiable"
        n = min(int(last), size)
        return (size - n, size - 1) if size else "unsatisfiable"
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return start, end


async def _not_found(scope: Scope, send: Send) -> None:
    await _send_error(scope, send, HTTPError(404, "not_found", f"no such file: {scope['path']}"))


async def _send_error(scope: Scope, send: Send, err: HTTPError) -> None:
    note_error(scope, ErrorNote(err.name, err.id))
    body = err.body()
    headers = [(b"content-type", b"application/json"), *err.headers,
               (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
