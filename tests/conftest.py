from __future__ import annotations

from collections.abc import Iterator

import pytest

from bastion import log
from bastion.testing import LogCapture
from tests.support.clock import FakeClock
from tests.support.servers import JWKSServer, RedisServer, jwks_server, redis_server


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A real redis-server on a free 127.0.0.1 port, killed after the test."""
    with redis_server() as server:
        yield server


@pytest.fixture(name="jwks_server")
def jwks_server_fixture() -> Iterator[JWKSServer]:
    """A JWKS endpoint on a free 127.0.0.1 port that counts its fetches."""
    with jwks_server() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand (`clock.advance(61)`)."""
    return FakeClock()


@pytest.fixture
def app_logs() -> Iterator[LogCapture]:
    """A LogCapture whose logger is current for the test, as an App's is during a request.

    Parts that log through `bastion.log` (the security verifiers, the rate limiter, the
    telemetry) write there; `app_logs.lines` reads the lines back.
    """
    logs = LogCapture(level="debug")
    with log.use(logs.logger):
        yield logs
