"""Clients written by `bastion gen client`, imported by the tests that drive them.

    orders = generated_client(orders_api, "orders_client", folder)
    with orders.Client(url, auth=[orders.JwtAuth(token)]) as client: ...

Each package is written once into `folder` and imported from there by its own name, so
tests use it as a user would: `import orders_client`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from bastion.cli.client import write
from bastion.dsl.expr import APIExpr

__all__ = ["forget_clients", "generated_client"]


def generated_client(api: APIExpr, package: str, folder: Path) -> Any:
    """Write the client package `package` of `api` into `folder` and import it."""
    write(api, folder / package)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    module: ModuleType = importlib.import_module(package)
    return module


def forget_clients(folder: Path, *packages: str) -> None:
    """Undo `generated_client`: the packages leave `sys.modules`, `folder` leaves the path."""
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            del sys.modules[name]
    if str(folder) in sys.path:
        sys.path.remove(str(folder))
