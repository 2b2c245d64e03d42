"""The list of problems finalize finds: every one reported at once, with its file:line."""

from __future__ import annotations

from bastion.dsl.expr import Location
from bastion.errors import DesignError


class Problems:
    """Collects (location, message) pairs; `raise_if_any` raises one `DesignError`."""

    def __init__(self) -> None:
        self.items: list[tuple[Location, str]] = []

    def add(self, where: Location, message: str) -> None:
        """Record one problem found at `where`."""
        self.items.append((where, message))

    def raise_if_any(self) -> None:
        """Raise a `DesignError` listing every recorded problem, if there is one."""
        if self.items:
            lines = [f"{where}: {msg}" for where, msg in self.items]
            if len(lines) == 1:
                raise DesignError(lines[0])
            raise DesignError(
                f"{len(lines)} problems in the design:\n" + "\n".join("  " + x for x in lines)
            )
