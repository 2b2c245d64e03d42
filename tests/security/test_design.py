"""From the design to the enforcer: credentials read by the payload's field names."""

from __future__ import annotations

import typing

import bastion
from bastion.dsl import *
from bastion.security import APIKeyStore
from bastion.testing import TestClient
from tests.support.apps import quiet_app


async def test_a_credential_renamed_in_python_still_authenticates() -> None:
    with API("renamed") as api:
        keys = APIKeySecurity("api_key")
    with Service("s"), Method("m"):
        Security(keys)
        with Payload():
            with APIKey("api_key", "key", String):
                Meta("struct:field:name", "secret_key")
        with HTTP():
            GET("/m")

    class Impl:
        api_key_auth = APIKeyStore()

        async def m(self, p: typing.Any) -> None:
            assert p.secret_key == "k-0123456789abcdef"
            assert bastion.principal() is not None

    Impl.api_key_auth.add("client", "k-0123456789abcdef")
    async with TestClient(quiet_app(api, {"s": Impl()})) as c:
        ok = await c.get("/m", headers={"X-API-Key": "k-0123456789abcdef"})
        bad = await c.get("/m", headers={"X-API-Key": "nope"})
    assert ok.status_code == 204 and bad.status_code == 401
