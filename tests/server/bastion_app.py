"""A Bastion App for server tests that need the App's own request log: a very large result."""

from __future__ import annotations

from typing import Any

import bastion
from bastion.config import Config, load
from bastion.dsl import (
    API,
    GET,
    HTTP,
    Attribute,
    Method,
    NoSecurity,
    Required,
    Result,
    Service,
    String,
)

SIZE = 16 * 1024 * 1024  # more than any kernel's socket buffers on loopback

with API("big") as api:
    pass
with Service("big"), Method("download"):
    NoSecurity()
    with Result():
        Attribute("data", String)
        Required("data")
    with HTTP():
        GET("/big")


class Big:
    def __init__(self) -> None:
        self.payload = {"data": "x" * SIZE}

    async def download(self) -> Any:
        return self.payload


app = bastion.App(api, {"big": Big()}, config=load(Config))
