"""Fixtures of the end-to-end security tests: a signing key and the levels design served."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bastion.security.testing import TokenFactory
from bastion.testing import TestClient
from tests.support.secured import (
    AUDIENCE,
    ISSUER,
    Admin,
    Docs,
    SecuredApp,
    Where,
    levels_design,
    serve,
)


@pytest.fixture(scope="module")
def es256() -> TokenFactory:
    """An ES256 key of the tests' issuer and audience, once per module."""
    return TokenFactory("ES256", kid="es-1", issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def levels(es256: TokenFactory) -> SecuredApp:
    """The levels design, served with real verifiers."""
    api = levels_design()
    return serve(api, {"docs": Docs(es256), "admin": Admin(es256), "where": Where(es256)})


@pytest.fixture
async def levels_client(levels: SecuredApp) -> AsyncIterator[TestClient]:
    """A TestClient of the served levels design."""
    async with TestClient(levels.app) as c:
        yield c
