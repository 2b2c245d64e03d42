"""`bastion gen mocks`: typed mocks that satisfy the stubs' Protocols and script a dependency."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from examples.orders.design import api as orders_api

import bastion
import bastion.dsl as d
from bastion.cli import main
from bastion.cli.mocks import MockNameClash, render
from bastion.cli.stubs import render as render_stubs
from bastion.testing import TestClient
from bastion.testing.mock import resolve
from tests.support.billing import api as billing_api
from tests.support.paths import ROOT


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # msgspec resolves the Structs' annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mocks(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    out = tmp_path_factory.mktemp("mocks") / "orders_mocks.py"
    assert main(["gen", "mocks", "examples.orders.design:api", "-o", str(out)]) == 0
    return _load(out, "orders_mocks")


class Billing:
    """Invoices with 20% tax, reading orders through the `orders` service's Protocol."""

    def __init__(self, orders: Any, payload: type[Any]) -> None:
        self.orders = orders
        self.payload = payload

    async def invoice(self, p: Any) -> dict[str, Any]:
        order = await resolve(self.orders.show(self.payload(id=p.order_id)))
        if order.status == "cancelled":
            raise bastion.make_error("not_found", f"order {p.order_id} is cancelled")
        return {"order_id": order.id, "total": round(order.amount * 1.2, 2)}


OPEN = "3f0c2a52-9a3e-4d6e-8f55-0d1f4c6f2b10"
GONE = "9b1d7e0e-2f7a-4c1b-a0c4-5b8a7d9e6f21"


def _order(m: ModuleType, order_id: str, status: str = "open") -> Any:
    return m.Order(id=order_id, amount=10.0, type="retail", customer="ada@example.com",
                   status=status, created_at="2024-05-01T10:00:00Z")


async def test_a_dependent_service_runs_against_a_scripted_orders_mock(mocks: ModuleType) -> None:
    orders = mocks.OrdersServiceMock()
    seen: list[str] = []

    def show_open(p: Any) -> Any:
        seen.append(p.id)
        return _order(mocks, p.id)

    async def show_cancelled(p: Any) -> Any:  # async answers are awaited
        return _order(mocks, p.id, status="cancelled")

    orders.add_show(show_open)
    orders.add_show(show_cancelled)
    orders.set_show(lambda p: (_ for _ in ()).throw(bastion.make_error("not_found", "none")))
    app = bastion.App(billing_api, services={"billing": Billing(orders, mocks.OrdersShowPayload)})
    async with TestClient(app) as client:
        first = await client.get(f"/invoices/{OPEN}")
        second = await client.get(f"/invoices/{GONE}")
        third = await client.get(f"/invoices/{OPEN}")  # the permanent answer: not found
    assert (first.status_code, first.json()) == (200, {"order_id": OPEN, "total": 12.0})
    assert seen == [OPEN]  # the scripted function got the payload billing built
    assert (second.status_code, second.json()["name"]) == (404, "not_found")
    assert (third.status_code, third.json()["name"]) == (404, "not_found")
    assert not orders.has_more()
    orders.assert_done()


async def test_the_failure_names_each_expected_call_that_did_not_happen(mocks: ModuleType) -> None:
    orders = mocks.OrdersServiceSyncMock()
    orders.add_show(lambda p: _order(mocks, p.id))
    orders.add_show(lambda p: _order(mocks, p.id))
    orders.add_cancel(lambda p: _order(mocks, p.id, "cancelled"))
    app = bastion.App(billing_api, services={"billing": Billing(orders, mocks.OrdersShowPayload)})
    async with TestClient(app) as client:
        assert (await client.get(f"/invoices/{OPEN}")).status_code == 200
    assert orders.has_more()
    with pytest.raises(AssertionError) as info:
        orders.assert_done()
    message = str(info.value)
    assert message.startswith("orders mock: 2 expected calls did not happen: #2 'show' (added at ")
    assert "; #3 'cancel' (added at " in message
    assert message.count(f"{__file__}:") == 2  # each at the line of this test that added it


async def test_the_generated_http_mock_scripts_the_api_by_method(mocks: ModuleType) -> None:
    http = mocks.OrdersHTTPMock(base_url="http://orders.internal")
    http.add_orders_show(bastion.testing.mock.json_response(200, {"id": OPEN}))
    http.set_health_ping(bastion.testing.mock.json_response(200, {"status": "ok"}))
    async with http.client() as client:
        assert (await client.get(f"/orders/{OPEN}")).json() == {"id": OPEN}
        assert (await client.get("/ping")).json() == {"status": "ok"}
        assert (await client.get("/ping")).status_code == 200
    http.assert_done()
    assert [r.url.path for r in http.requests] == [f"/orders/{OPEN}", "/ping", "/ping"]


USAGE = """
from typing import Any

from orders_mocks import (HealthService, Order, OrderPage, OrdersService,
                          OrdersServiceMock, OrdersServiceSyncMock)
import orders_stubs
from orders_mocks_imported import OrdersServiceMock as ImportedMock

def typed() -> None:
    m = OrdersServiceMock()
    m.add_show(lambda p: Order(id=p.id, amount=1.0, type="retail", customer="a@b.c",
                               status="open", created_at="2024-01-01T00:00:00Z"))
    m.set_list(lambda p: {"orders": [], "page": p.page, "per_page": 20, "total": 0})
    service: OrdersService = m
    sync: OrdersService = OrdersServiceSyncMock()
    stubs_protocol: orders_stubs.OrdersService = ImportedMock()

def refused() -> None:
    m = OrdersServiceSyncMock()
    m.add_show(lambda p: p.amount)
    m.add_cancel(42)
    m.add_jwt_auth(lambda token: token)
"""


def test_generated_mocks_type_check_against_the_protocols(tmp_path: Path, mypy_cache: str) -> None:
    (tmp_path / "orders_stubs.py").write_text(render_stubs(orders_api))
    (tmp_path / "orders_mocks.py").write_text(render(orders_api))
    (tmp_path / "orders_mocks_imported.py").write_text(
        render(orders_api, stubs_module="orders_stubs"))
    (tmp_path / "usage.py").write_text(textwrap.dedent(USAGE).lstrip())
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", mypy_cache,
         "--no-error-summary", "--hide-error-context",
         *(str(tmp_path / f) for f in ("orders_stubs.py", "orders_mocks.py",
                                        "orders_mocks_imported.py", "usage.py"))],
        check=False, capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"MYPYPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    # The generated modules and the typed uses are clean (both mocks of each service
    # are assigned to the Protocol inside the generated module, so mypy checks them);
    # each wrong script is refused at its own line.
    assert {line.split(":")[0] for line in errors} == {str(tmp_path / "usage.py")}, checked.stdout
    assert {int(line.split(":")[1]) for line in errors} == {19, 20, 21}, checked.stdout


def test_a_member_named_like_a_mock_helper_is_refused_with_its_line() -> None:
    with d.API("clash") as clash_api:
        pass
    with d.Service("jobs"):
        with d.Method("has_more"):
            d.NoSecurity()
            with d.HTTP():
                d.GET("/more")
    line = sys._getframe().f_lineno - 4
    with pytest.raises(MockNameClash, match=rf"service 'jobs': member 'has_more' \(.*"
                                            rf"test_mocks.py:{line}\) has the name of a helper"):
        render(clash_api)


def test_the_command_writes_to_stdout_and_names_a_bad_target(capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    assert main(["gen", "mocks", "examples.orders.design:api", "--stubs", "orders_stubs"]) == 0
    out = capsys.readouterr().out
    assert "from orders_stubs import (\n" in out and "class OrdersServiceMock:" in out
    assert "class Order(msgspec.Struct" not in out  # imported, not written again
    assert main(["gen", "mocks", "examples.orders.design:nope"]) == 2
    assert "has no attribute 'nope'" in capsys.readouterr().err
