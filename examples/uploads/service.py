"""The storage service: blobs in a folder, notes in a dict, counts of what happened."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bastion

_CHUNK = 256 * 1024
_ZEROS = bytes(_CHUNK)


class Storage:
    """Keeps blobs under `folder`; a blob exists only once its upload arrived whole."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.notes: dict[str, dict[str, Any]] = {
            "hello": {"id": "hello", "text": "Hello, world", "stars": 5}}
        self.digests: dict[str, str] = {}
        self.bytes_received = 0
        self.downloads_completed = 0
        self.downloads_cancelled = 0
        self.uploads_cancelled = 0

    async def upload(self, p: Any) -> dict[str, Any]:
        digest = hashlib.sha256()
        blob = uuid.uuid4().hex
        with (self.folder / blob).open("wb") as out:
            async for chunk in p.file:
                digest.update(chunk)
                out.write(chunk)
        return {"id": blob, "title": p.title, "tags": p.tags or [], "filename": p.file.filename,
                "content_type": p.file.content_type, "size": p.file.size,
                "sha256": digest.hexdigest()}

    async def put(self, p: Any, body: bastion.RequestBody) -> dict[str, Any]:
        # Written to a temporary name, renamed once whole: a cut upload leaves nothing.
        digest = hashlib.sha256()
        size = 0
        partial = self.folder / f".{p.id}.{uuid.uuid4().hex}"
        try:
            with partial.open("wb") as out:
                async for chunk in body:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    self.bytes_received += len(chunk)
            with bastion.committing():  # raises Cancelled when the client is gone
                partial.rename(self.folder / p.id)
                self.digests[p.id] = digest.hexdigest()
        except BaseException:
            if bastion.cancelled():
                self.uploads_cancelled += 1
            partial.unlink(missing_ok=True)
            raise
        return {"id": p.id, "size": size, "sha256": digest.hexdigest()}

    async def get(self, p: Any) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        path = self.folder / p.id
        if not path.is_file():
            raise bastion.ServiceError("not_found", f"no blob {p.id!r}")
        digest = self.digests.get(p.id)
        if digest is None:  # a blob put there by hand: hash it in chunks, never whole
            h = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
            digest = self.digests[p.id] = h.hexdigest()
        return {"length": path.stat().st_size, "sha256": digest}, self._read(path)

    async def _read(self, path: Path) -> AsyncIterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    async def sink(self, body: bastion.RequestBody) -> dict[str, Any]:
        digest = hashlib.sha256()
        size = 0
        async for chunk in body:
            digest.update(chunk)
            size += len(chunk)
        self.bytes_received += size
        return {"id": "sink", "size": size, "sha256": digest.hexdigest()}

    async def zeros(self, p: Any) -> AsyncIterator[bytes]:
        return self._zeros(p.size)

    async def _zeros(self, size: int) -> AsyncIterator[bytes]:
        left = size
        try:
            while left > 0:
                piece = _ZEROS if left >= _CHUNK else _ZEROS[:left]
                left -= len(piece)
                yield piece
        finally:
            # GeneratorExit at a `yield` when the client left: the call is cancelled, and
            # the download does not count as done.
            if bastion.cancelled():
                self.downloads_cancelled += 1
        self.downloads_completed += 1

    async def note(self, p: Any) -> dict[str, Any]:
        found = self.notes.get(p.id)
        if found is None:
            raise bastion.ServiceError("not_found", f"no note {p.id!r}")
        return found

    async def write(self, p: Any) -> dict[str, Any]:
        note = {"id": p.id or uuid.uuid4().hex[:8], "text": p.text, "stars": p.stars}
        self.notes[note["id"]] = note
        return note

    async def text(self, p: Any) -> str:
        found = self.notes.get(p.id)
        if found is None:
            raise bastion.ServiceError("not_found", f"no note {p.id!r}")
        return str(found["text"])

    async def stats(self) -> dict[str, Any]:
        blobs = sum(1 for f in os.scandir(self.folder) if not f.name.startswith("."))
        return {"blobs": blobs, "bytes_received": self.bytes_received,
                "downloads_completed": self.downloads_completed,
                "downloads_cancelled": self.downloads_cancelled,
                "uploads_cancelled": self.uploads_cancelled}


def blob_folder() -> Path:
    """BLOB_DIR, or a new temporary folder."""
    folder = os.environ.get("BLOB_DIR") or tempfile.mkdtemp(prefix="bastion-uploads-")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
