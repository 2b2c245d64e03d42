"""The storage and sommelier services: Goa's cellar implementation, over a dict."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import msgspec

import bastion


class Storage:
    """The storage service: bottles kept in memory (Goa's example keeps them in BoltDB)."""

    def __init__(self) -> None:
        self.bottles: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    async def list(self) -> list[dict[str, Any]]:
        """List all stored bottles (rendered in view `tiny`, as the design says)."""
        return list(self.bottles.values())

    async def show(self, p: Any) -> Any:
        """Show bottle by ID, in the view the payload names (the default one otherwise)."""
        bottle = self.bottles.get(p.id)
        if bottle is None:
            # NotFound names its error in `message` (Meta("struct:error:name")), as in
            # Goa: the message is the error's name.
            raise bastion.make_error(None, value={"message": "not_found", "id": p.id})
        return bastion.Viewed(bottle, p.view or "default")

    async def add(self, p: Any) -> str:
        """Add new bottle and return its ID."""
        with self._lock:
            bottle_id = f"{next(self._ids)}"
        self.bottles[bottle_id] = {"id": bottle_id, **_plain(p)}
        return bottle_id

    async def remove(self, p: Any) -> None:
        """Remove bottle from storage (removing a missing one is no error, as in Goa)."""
        self.bottles.pop(p.id, None)

    async def rate(self, p: dict[int, list[str]]) -> None:
        """Rate bottles by IDs: `?5=id1&5=id2` rates both 5."""
        for rating, ids in p.items():
            for bottle_id in ids:
                if bottle_id in self.bottles:
                    self.bottles[bottle_id]["rating"] = rating


    async def decode_multi_add_multipart(self, reader: bastion.http.MultipartReader
                                         ) -> list[Any]:
        """Goa's StorageMultiAddDecoderFunc: every part is a bottle, in JSON."""
        return [await _bottle(part) async for part in reader]

    async def decode_multi_update_multipart(self, reader: bastion.http.MultipartReader
                                            ) -> dict[str, Any]:
        """Goa's StorageMultiUpdateDecoderFunc: the parts are the bottles; ids the query's."""
        return {"bottles": [await _bottle(part) async for part in reader]}

    async def multi_add(self, p: list[Any]) -> list[str]:
        """Add n number of bottles and return their IDs."""
        return [await self.add(bottle) for bottle in p]

    async def multi_update(self, p: Any) -> None:
        """Update bottles with the given IDs (each id gets the parts' bottles in turn)."""
        for bottle_id in p.ids:
            for bottle in p.bottles:
                self.bottles[bottle_id] = {"id": bottle_id, **_plain(bottle)}


async def _bottle(part: bastion.Part) -> Any:
    try:
        return msgspec.json.decode(await part.read())
    except msgspec.DecodeError as exc:
        raise bastion.http.HTTPError(400, "bad_request",
                                     f"failed to decode {part.label}: {exc}") from None


class Sommelier:
    """The sommelier service: picks stored bottles matching criteria."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def pick(self, p: Any) -> list[dict[str, Any]]:
        """Bottles whose name, winery or one of the varietals match."""
        if p.name is None and not p.varietal and p.winery is None:
            raise bastion.make_error(
                "no_criteria", "must specify a name or one or more varietals or a winery")
        found = [b for b in self.storage.bottles.values() if _matches(b, p)]
        if not found:
            raise bastion.make_error("no_match", "no bottle matched given criteria")
        return found


def _plain(p: Any) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(p)
    return data


def _matches(bottle: dict[str, Any], p: Any) -> bool:
    if p.name is not None and bottle.get("name") != p.name:
        return False
    if p.winery is not None and bottle.get("winery", {}).get("name", "").lower() != (
            p.winery.lower()):
        return False
    if p.varietal:
        grapes = {c.get("varietal", "").lower() for c in bottle.get("composition") or []}
        if not grapes & {v.lower() for v in p.varietal}:
            return False
    return True
