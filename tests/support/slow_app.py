"""A Bastion app whose one method takes a second: for drain and shutdown tests."""

from __future__ import annotations

import asyncio
from typing import Any

import bastion
from bastion.dsl import API, GET, HTTP, Attribute, Float64, Method, Param, Payload, Result, Service
from bastion.dsl import String as Str

with API("slow") as api:
    pass

with Service("work"):
    with Method("sleep"):
        with Payload():
            Attribute("s", Float64, minimum=0, maximum=10, default=1.0)
        with Result():
            Attribute("slept", Str)
        with HTTP():
            GET("/sleep")
            Param("s")


class Work:
    """Sleeps as asked."""

    async def sleep(self, p: Any) -> dict[str, str]:
        await asyncio.sleep(p.s)
        return {"slept": f"{p.s}s"}


app = bastion.App(api, {"work": Work()})

if __name__ == "__main__":
    bastion.run(app)
