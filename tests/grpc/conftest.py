from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
import pytest

from tests.support import grpc_shop
from tests.support.grpc import Served, compile_protos, serve_grpc


@pytest.fixture(scope="session")
def pb() -> ModuleType:
    """The shop's messages, compiled from `bastion gen proto` by grpcio-tools."""
    return compile_protos(grpc_shop.api)["shoptest.pb2"]


@pytest.fixture(scope="session")
def pb_grpc() -> ModuleType:
    return compile_protos(grpc_shop.api)["shoptest.grpc"]


@pytest.fixture
def shop() -> grpc_shop.Shop:
    return grpc_shop.Shop()


@pytest.fixture
async def served(shop: grpc_shop.Shop) -> AsyncIterator[Served]:
    import bastion

    app = bastion.App(grpc_shop.api, {"shop": shop})
    async with serve_grpc(app) as s:
        yield s


@pytest.fixture
async def stub(served: Served, pb_grpc: ModuleType) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(served.target) as channel:
        yield pb_grpc.ShopStub(channel)
