"""A stock generator, `openapi-python-client`, builds a working client from our document.

The document the running orders example serves (`App.openapi`) is handed to the tool
with `--fail-on-warning`, so an operation it had to skip fails the test; the client it
writes then creates an order with a JWT and shows it with an API key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.orders.main import DEMO_API_KEY
from examples.orders.mint import mint

from bastion.openapi import spec
from tests.support.clients import forget_clients
from tests.support.every_scheme import api as things_api
from tests.support.orders import demo

pytestmark = pytest.mark.integration


def _generate(
    document: dict[str, Any], folder: Path, package: str
) -> subprocess.CompletedProcess[str]:
    path = folder / f"{package}.json"
    path.write_text(json.dumps(_json_request_bodies(document)))
    # The tool formats its output with ruff: the one beside this interpreter.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "openapi-python-client"), "generate", "--path",
         str(path), "--meta", "none", "--output-path", str(folder / package),
         "--fail-on-warning"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)


def _json_request_bodies(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with its request bodies in JSON only.

    The tool cannot send a body offered in several media types (msgpack and CBOR beside
    JSON): it warns, or with a content-type override writes code that sets each type in
    turn. Its client speaks JSON, so it is given the JSON bodies; responses stay whole.
    """
    copy: dict[str, Any] = json.loads(json.dumps(document))
    for item in copy["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content")
            if content and "application/json" in content:
                operation["requestBody"]["content"] = {
                    "application/json": content["application/json"]}
    return copy


def test_the_stock_client_creates_and_shows_an_order(tmp_path: Path) -> None:
    with demo(tmp_path) as d:
        document = httpx.get(f"{d.api}/openapi.json", timeout=10).json()
        made = _generate(document, tmp_path, "orders_stock")
        assert made.returncode == 0, made.stdout + made.stderr
        sys.path.insert(0, str(tmp_path))
        try:
            from orders_stock import AuthenticatedClient, Client  # type: ignore[import-not-found]
            from orders_stock.api.orders import (  # type: ignore[import-not-found]
                orderscreate,
                ordersshow,
            )
            from orders_stock.models import (  # type: ignore[import-not-found]
                Order,
                OrderInput,
                OrderInputType,
            )

            with AuthenticatedClient(base_url=d.api, token=mint(["orders:write"])) as writer:
                created = orderscreate.sync(client=writer, body=OrderInput(
                    amount=12.5, type_=OrderInputType.RETAIL, customer="ada@example.com"))
            assert isinstance(created, Order) and created.amount == 12.5
            with Client(base_url=d.api, headers={"X-API-Key": DEMO_API_KEY}) as reader:
                shown = ordersshow.sync_detailed(client=reader, id=created.id)
            assert shown.status_code == 200
            assert isinstance(shown.parsed, Order) and shown.parsed.id == created.id
            assert shown.parsed.status.value == "open"
        finally:
            forget_clients(tmp_path, "orders_stock")


def test_the_design_with_every_scheme_generates_without_a_warning(tmp_path: Path) -> None:
    made = _generate(spec(things_api), tmp_path, "things_stock")
    assert made.returncode == 0, made.stdout + made.stderr
    assert (tmp_path / "things_stock" / "api" / "things" / "thingsby_basic.py").is_file()
