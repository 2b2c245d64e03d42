"""Writing the document (JSON, YAML, files) and the docs page; large designs stay valid."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path as FilePath

import pytest
import yaml
from openapi_spec_validator import validate

from bastion.dsl import *
from bastion.dsl.expr import UserTypeExpr
from bastion.openapi import spec, to_json, to_yaml, write
from tests.openapi.support import checked, op


def _orders() -> APIExpr:
    """An orders design like examples/orders, grown with errors, headers and more methods."""
    with API("orders") as api:
        jwt = JWTSecurity("jwt", description="Bearer JWT", scopes={
            "api:read": "Read access", "api:write": "Write access"})
        key = APIKeySecurity("api_key", description="Requires an API key",
                             rate_limit="100/minute")
        Title("Orders API")
        Version("1.0.0")
        Server("https://orders.example.com")
        Security(jwt, scopes=["api:read"])
        Error("unavailable", temporary=True)
        with HTTP():
            Path("/api")
            Response("unavailable", StatusServiceUnavailable)
    with Type("Item") as item_t:
        Attribute("sku", String, pattern="^[A-Z0-9-]+$")
        Attribute("qty", Int32, minimum=1)
        Required("sku", "qty")
    with Type("Order") as order_t:
        Attribute("id", String, format=UUID)
        Attribute("amount", Float64, minimum=0)
        Attribute("type", String, enum=["retail", "wholesale"])
        Attribute("items", ArrayOf(item_t), min_length=1)
        Attribute("notes", MapOf(String, String))
        Attribute("parent", "Order")
        Required("id", "amount", "type")
    with Service("orders", description="Order management."):
        Error("not_found", description="Order not found")
        with HTTP():
            Path("/orders")
            Response("not_found", StatusNotFound)
        with Method("create"):
            Security(jwt, scopes=["api:write"])
            with Payload():
                Token("token", String)
                Attribute("order", order_t)
                Required("token", "order")
            Result(order_t)
            with HTTP():
                POST("/")
                Body("order")
                Response(StatusCreated)
        with Method("show"):
            with Payload():
                Token("token", String)
                Attribute("id", String, format=UUID)
                Required("token", "id")
            Result(order_t)
            with HTTP():
                GET("/{id}")
        with Method("list"):
            RateLimit("10/second")
            with Payload():
                Token("token", String)
                Attribute("type", String, enum=["retail", "wholesale"])
                Attribute("cursor", String)
                Attribute("limit", Int32, minimum=1, maximum=100, default=20)
            with Result():
                Attribute("orders", ArrayOf(order_t))
                Attribute("next", String)
                Required("orders")
            with HTTP():
                GET("/")
                Param("type")
                Param("cursor")
                Param("limit")
                with Response(StatusOK):
                    Header("next:X-Next-Cursor")
                    Body("orders")
        with Method("import"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
                Attribute("orders", ArrayOf(order_t))
            with HTTP():
                POST("/import")
                Body("orders")
                Response(StatusAccepted)
        with Method("ping"):
            NoSecurity()
            with HTTP():
                GET("/ping")
    return api


def test_the_orders_example_is_a_valid_document() -> None:
    doc = checked(_orders())
    assert set(doc["paths"]) == {
        "/api/orders", "/api/orders/{id}", "/api/orders/import", "/api/orders/ping"}
    assert op(doc, "POST", "/api/orders")["security"] == [{"jwt": ["api:write"]}]
    assert op(doc, "GET", "/api/orders/ping")["security"] == []
    assert "429" in op(doc, "POST", "/api/orders/import")["responses"]
    assert "503" in op(doc, "GET", "/api/orders/{id}")["responses"]


def test_a_large_design_is_valid() -> None:
    with API("big") as api:
        jwt = JWTSecurity("jwt", scopes={f"s{i}": f"scope {i}" for i in range(10)})
        Security(jwt, scopes=["s0"])
    types: list[UserTypeExpr] = []
    for t in range(30):
        with Type(f"T{t}") as ut:
            Attribute("id", String, format=UUID)
            Attribute("n", Int64, minimum=0)
            if types:
                Attribute("prev", types[-1])
                Attribute("many", ArrayOf(types[0]))
            Attribute("self", f"T{t}")
            Required("id")
        types.append(ut)
    for s in range(20):
        with Service(f"svc{s}"):
            Error("not_found")
            with HTTP():
                Path(f"/svc{s}")
                Response("not_found", StatusNotFound)
            for m in range(10):
                with Method(f"m{m}"):
                    Security(jwt, scopes=[f"s{m}"])
                    with Payload():
                        Token("token")
                        Attribute("id", String)
                        Attribute("q", Int32)
                        Attribute("body", types[(s + m) % len(types)])
                        Required("id")
                    Result(types[m])
                    with HTTP():
                        POST(f"/m{m}/{{id}}")
                        Param("q")
    doc = checked(api)
    assert len(doc["paths"]) == 200
    assert len(doc["components"]["schemas"]) == 32  # 30 types, Error, FieldError
    assert json.loads(to_json(doc)) == doc


def test_json_is_indented_stable_and_starts_with_the_version() -> None:
    api = _orders()
    first = to_json(spec(api))
    second = to_json(spec(api))  # finalize is idempotent; the bytes are the same
    assert first == second
    assert first.startswith(b'{\n  "openapi": "3.1.0",\n  "info": {')
    assert first.endswith(b"\n")
    validate(json.loads(first))


def test_yaml_keeps_the_order_and_has_no_aliases() -> None:
    doc = spec(_orders())
    text = to_yaml(doc)
    assert text.startswith("openapi: 3.1.0\ninfo:\n")
    assert "&id" not in text
    assert "*id" not in text
    assert yaml.safe_load(text) == doc


def test_write_a_json_file_a_yaml_file_or_stdout(
    tmp_path: FilePath, capsys: pytest.CaptureFixture[str]
) -> None:
    api = _orders()
    out = tmp_path / "openapi.json"
    text = write(api, str(out))
    assert out.read_text(encoding="utf-8") == text
    assert json.loads(text)["info"]["title"] == "Orders API"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # as a plain open() would
    assert capsys.readouterr().out == ""
    os.chmod(out, 0o600)
    write(api, str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # an existing file keeps its mode
    assert [p.name for p in tmp_path.iterdir()] == ["openapi.json"]  # no temp file left

    ydoc = tmp_path / "openapi.yaml"
    text = write(api, str(ydoc), yaml=True)
    assert yaml.safe_load(ydoc.read_text(encoding="utf-8")) == json.loads(
        out.read_text(encoding="utf-8"))

    printed = write(api, None)
    assert capsys.readouterr().out == printed
    assert json.loads(printed)["openapi"] == "3.1.0"


def test_write_reports_design_errors_before_touching_the_file(tmp_path: FilePath) -> None:
    with API("broken") as api:
        pass
    with Service("s"), Method("m"), HTTP():
        GET("/m/{nope}")
    out = tmp_path / "openapi.json"
    out.write_text("old", encoding="utf-8")
    with pytest.raises(DesignError):
        write(api, str(out))
    assert out.read_text(encoding="utf-8") == "old"
