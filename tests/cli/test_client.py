"""`bastion gen client`: the package it writes is lint-clean, strictly typed, and refuses
what it cannot speak.

The generated packages of three designs (the orders example, the wire design, the
design with every kind of scheme) are checked with the project's ruff rules and with
`mypy --strict`, together with a program that uses a client right and one that uses it
wrong, whose every mistake mypy must name.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from examples.orders.design import api as orders_api

from bastion.cli import _client_model as model
from bastion.cli import main
from bastion.cli.client import UnsupportedDesign, render, runtime_source
from bastion.dsl import (
    API,
    GET,
    HTTP,
    POST,
    ArrayOf,
    Attribute,
    Cookie,
    Method,
    Payload,
    Service,
    String,
)
from bastion.dsl.expr import DataType

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
from orders_client import (
    ApiKeyAuth, AsyncClient, Client, JwtAuth, NotFoundError, Order, OrderInput, OrderPage,
    OrdersShowPayload, Retry,
)


def use(token: str, key: str) -> list[str]:
    with Client("http://127.0.0.1:8080", auth=[JwtAuth(token), ApiKeyAuth(lambda: key)],
                retry=Retry(attempts=5, total=10.0)) as client:
        order: Order = client.orders.create(
            order=OrderInput(amount=1.0, type="retail", customer="a@b.example"))
        page: OrderPage = client.orders.list(page=2, type="wholesale")
        try:
            client.orders.show(OrdersShowPayload(id=order.id))
        except NotFoundError as exc:
            return [exc.name, exc.message, exc.request_id or ""]
        return [o.id for o in page.orders]


async def use_async(token: str) -> str:
    async with AsyncClient("http://127.0.0.1:8080", auth=[JwtAuth(token)]) as client:
        order = await client.orders.cancel(id="7b9f1d2e-0000-4000-8000-000000000000")
        return order.status
"""

BAD = """
from orders_client import Client, OrderInput

def misuse(client: Client) -> None:
    client.orders.create(order={"amount": 1})
    client.orders.list(type="bulk")
    client.orders.show(id=7)
    amount: str = client.orders.show(id="x").amount
    client.orders.create(order=OrderInput(amount=1.0, type="retail"))
    client.nothing.call()
"""

_BAD_LINES = {4, 5, 6, 7, 8, 9}


def _write(folder: Path) -> None:
    from tests.support.client_wire import api as wire_api
    from tests.support.every_scheme import api as things_api

    for api, package in ((orders_api, "orders_client"), (wire_api, "wire_client"),
                         (things_api, "things_client")):
        for name, text in render(api, package).items():
            path = folder / package / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def test_the_generated_packages_pass_ruff_and_mypy_strict(tmp_path: Path, mypy_cache: str) -> None:
    _write(tmp_path)
    (tmp_path / "good.py").write_text(textwrap.dedent(GOOD).lstrip())
    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD).lstrip())
    packages = ["orders_client", "wire_client", "things_client"]
    linted = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
         str(ROOT / "pyproject.toml"), *packages],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    typed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--hide-error-context",
         "--cache-dir", mypy_cache, *packages, "good.py", "bad.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    errors = [line for line in typed.stdout.splitlines() if ": error:" in line]
    # The packages and the right use are clean; every misuse is named at its line.
    assert {line.split(":")[0] for line in errors} == {"bad.py"}, typed.stdout
    assert {int(line.split(":")[1]) for line in errors} == _BAD_LINES, typed.stdout


def test_the_command_writes_the_package_from_a_design_or_an_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    assert main(["gen", "client", "examples.orders.design:api", "-o", "oc"]) == 0
    assert main(["gen", "client", "examples.orders.main:app", "-o", "from_app",
                 "--package", "orders_client"]) == 0
    assert main(["gen", "client", "examples.orders.design:api"]) == 0  # ./orders_client
    assert "wrote oc/ (9 files)" in capsys.readouterr().err
    files = sorted(p.name for p in (tmp_path / "oc").iterdir())
    assert files == ["__init__.py", "_operations.py", "_runtime.py", "async_client.py",
                     "auth.py", "client.py", "errors.py", "models.py", "py.typed"]
    for name in files:
        assert (tmp_path / "from_app" / name).read_text() == (
            tmp_path / "orders_client" / name).read_text()
    # The runtime is Bastion's own module, copied: no import of Bastion in the package.
    assert (tmp_path / "oc" / "_runtime.py").read_text() == runtime_source()
    for path in (tmp_path / "oc").glob("*.py"):
        assert "import bastion" not in path.read_text()
        assert "from bastion" not in path.read_text()


def test_a_package_name_must_be_an_identifier(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gen", "client", "examples.orders.design:api", "--package", "no-dash"]) == 2
    assert "package name 'no-dash' is not a Python identifier" in capsys.readouterr().err


def test_docstrings_come_from_the_design() -> None:
    files = render(orders_api, "orders_client")
    client = files["client.py"]
    assert '        """Show one order.\n' in client
    assert "`GET /orders/{id}`, answering 200. Security: API key `api_key`; or JWT `jwt`" in client
    assert "            NotFoundError: 404, No order has this id." in client
    assert '    """The order book.\n' in client
    models = files["models.py"]
    assert '    """What a client sends to create an order."""' in models
    assert "    #: Customer email\n    customer: Email\n" in models
    assert '    type: Literal["retail", "wholesale"]\n' in models
    assert "    page: Annotated[int, msgspec.Meta(ge=1, le=1000000)] = 1\n" in models
    auth = files["auth.py"]
    assert "Scopes: `orders:read` (Read orders), `orders:write` (Create and cancel orders)." in auth
    assert "Sent as the header `X-API-Key`" in auth


# ---------------------------------------------------------------------------- refusals


def _design_with(attribute: dict[str, Any] | None = None, kind: DataType | None = None) -> Any:
    with API("odd") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            if kind is not None:
                Attribute("value", kind)
            else:
                Attribute("value", String, **(attribute or {}))
        with HTTP():
            POST("/m")
    return api


def test_a_wire_rename_is_refused_naming_the_attribute() -> None:
    api = _design_with({"meta": {"struct:tag:json": "renamed"}})
    with pytest.raises(UnsupportedDesign) as caught:
        render(api, "odd_client")
    message = str(caught.value)
    assert "test_client.py:" in message
    assert "payload of method 'm' of service 's', attribute 'value'" in message
    assert "Meta('struct:tag:json')" in message


def test_a_data_type_the_generator_does_not_know_is_refused() -> None:
    class Union(DataType):
        name = "OneOf(A, B)"

    api = _design_with(kind=Union())
    with pytest.raises(UnsupportedDesign) as caught:
        render(api, "odd_client")
    assert "type OneOf(A, B) (Union) is not supported by `bastion gen client`" in str(caught.value)


def test_a_field_the_generator_does_not_know_is_refused_when_set(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if `HTTPMethodExpr.cookies` were a DSL feature added after the generator.
    from bastion.dsl.expr import HTTPMethodExpr

    known = dict(model._KNOWN)
    known[HTTPMethodExpr] = known[HTTPMethodExpr] - {"cookies"}
    monkeypatch.setattr(model, "_KNOWN", known)
    render(orders_api, "orders_client")  # no cookie in this design: the field is unset
    with API("odd") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            Attribute("session", String)
        with HTTP():
            GET("/m")
            Cookie("session:sid")
    with pytest.raises(UnsupportedDesign) as caught:
        render(api, "odd_client")
    assert "HTTP of method 'm' of service 's': `cookies` (set to {'session': 'sid'})" in str(
        caught.value)


def test_an_unknown_field_holding_a_plain_response_is_looked_into(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if `HTTPMethodExpr.response` were new: a later DSL gives every error mapping a
    # Response block, which says nothing when it only has a status.
    from bastion.dsl.expr import HTTPMethodExpr
    from tests.support.client_wire import api as wire_api

    known = dict(model._KNOWN)
    known[HTTPMethodExpr] = known[HTTPMethodExpr] - {"response"}
    monkeypatch.setattr(model, "_KNOWN", known)
    render(orders_api, "orders_client")  # `Response(StatusCreated)`: a status only
    with pytest.raises(UnsupportedDesign) as caught:
        render(wire_api, "wire_client")  # `Response(StatusOK)` writes a header
    assert "its `response`: `headers` (set to {'total': 'X-Total'})" in str(caught.value)


def test_a_cookie_holding_a_list_is_refused() -> None:
    # The server reads one value per cookie: a list would not come back as sent.
    with API("odd") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            Attribute("ids", ArrayOf(String))
        with HTTP():
            GET("/m")
            Cookie("ids")
    with pytest.raises(UnsupportedDesign) as caught:
        render(api, "odd_client")
    assert "method 'm' of service 's': cookie 'ids' of type ArrayOf(String)" in str(caught.value)


def test_methods_without_http_are_left_out_and_named() -> None:
    with API("odd") as api:
        pass
    with Service("s"):
        with Method("served"), HTTP():
            GET("/served")
        with Method("elsewhere"):
            pass
    files = render(api, "odd_client")
    assert "def served(self)" in files["client.py"]
    assert "elsewhere" not in files["client.py"]
    assert "Not served over HTTP, so not here: s.elsewhere." in files["__init__.py"]


def test_server_interceptors_need_nothing_of_the_client_and_client_ones_are_refused() -> None:
    from bastion.dsl import ClientInterceptor, Interceptor, ServerInterceptor
    from tests.support.lines import at, next_line

    def design(client: bool) -> Any:
        with API(f"i{client}") as api:
            Interceptor("Audit")
            line = next_line()
            ClientInterceptor("Audit") if client else ServerInterceptor("Audit")
        with Service("s"), Method("m"):
            ServerInterceptor("Audit")
            with Payload():
                Attribute("value", String)
            with HTTP():
                POST("/m")
        return api, line

    served, _ = design(client=False)
    assert "def m(" in "".join(render(served, "audited_client").values())
    refused, line = design(client=True)
    with pytest.raises(UnsupportedDesign) as caught:
        render(refused, "audited_client")
    assert str(caught.value).startswith(at(line))
    assert "client interceptor 'Audit' (the generated client does not run" in str(caught.value)
