from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import RedisServer, redis_server


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A real redis-server on a free 127.0.0.1 port, killed after the test."""
    with redis_server() as server:
        yield server
