"""Generated clients shared by the tests of `bastion gen client` (written once a session)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from examples.orders.design import api as orders_api

from tests.support.client_wire import api as wire_api
from tests.support.clients import forget_clients, generated_client
from tests.support.every_scheme import api as things_api

PACKAGES = ("orders_client", "wire_client", "things_client")


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One mypy cache for the session's type checks (`--cache-dir`).

    The standard library, Bastion and its dependencies are checked once, not once per
    test. Sharing is safe: mypy takes a module from the cache only when its path, size
    and source hash match what it recorded, and it rechecks modules whose errors it
    reports, so each test's own files are always checked afresh.
    """
    return str(tmp_path_factory.mktemp("mypy-cache"))


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The generated packages of the orders, wire and things designs, imported."""
    folder = tmp_path_factory.mktemp("clients")
    yield {
        "orders": generated_client(orders_api, "orders_client", folder),
        "wire": generated_client(wire_api, "wire_client", folder),
        "things": generated_client(things_api, "things_client", folder),
    }
    forget_clients(folder, *PACKAGES)


@pytest.fixture
def oc(clients: dict[str, Any]) -> Any:
    """The orders example's generated client package."""
    return clients["orders"]


@pytest.fixture
def wc(clients: dict[str, Any]) -> Any:
    """The wire design's generated client package."""
    return clients["wire"]
