"""The README's quick start runs as written and does what the README says it does."""

from __future__ import annotations

import re
from typing import Any

from bastion.testing import TestClient
from tests.support.paths import ROOT

README = ROOT / "README.md"


def _quick_start() -> str:
    text = README.read_text()
    section = text[text.index("## Quick start"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_starts_with_make_demo_and_make_test() -> None:
    head = README.read_text().split("## ", 1)[0]
    assert "make demo" in head and "make test" in head


async def test_the_quick_start_serves_what_the_readme_promises() -> None:
    namespace: dict[str, Any] = {"__name__": "readme"}  # not __main__: do not serve
    exec(compile(_quick_start(), str(README), "exec"), namespace)
    async with TestClient(namespace["app"]) as client:
        ok = await client.get("/hello/Ada")
        assert ok.status_code == 200
        assert ok.json() == {"greeting": "Hello, Ada!"}
        bad = await client.get("/hello/" + "x" * 41)
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["field"] == "name"
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "Hello API"
        assert (await client.get("/docs")).status_code == 200
