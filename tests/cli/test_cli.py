"""The `bastion` command: gen openapi, gen stubs, check and config, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]


def bastion(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", *args],
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gen_openapi_writes_a_valid_document(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    run = bastion("gen", "openapi", "examples.orders.design:api", "-o", str(out))
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["info"]["title"] == "Orders API"
    assert "/orders/{id}" in doc["paths"]


def test_gen_openapi_yaml_to_stdout() -> None:
    run = bastion("gen", "openapi", "examples.orders.design:api", "--yaml")
    assert run.returncode == 0, run.stderr
    doc = yaml.safe_load(run.stdout)
    validate(doc)
    assert doc["components"]["securitySchemes"]["jwt"]["bearerFormat"] == "JWT"


def test_gen_stubs_type_check_with_mypy(tmp_path: Path) -> None:
    out = tmp_path / "orders_stubs.py"
    run = bastion("gen", "stubs", "examples.orders.design:api", "-o", str(out))
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "class Order(msgspec.Struct, kw_only=True):" in text
    assert "class OrdersService(Protocol):" in text
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(out)],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert checked.returncode == 0, checked.stdout


def test_check_accepts_a_good_design_and_names_a_bad_one(tmp_path: Path) -> None:
    ok = bastion("check", "examples.orders.design:api")
    assert ok.returncode == 0 and "is valid" in ok.stdout
    bad = tmp_path / "bad_design.py"
    bad.write_text(
        "from bastion.dsl import *\n"
        "with API('bad') as api:\n"
        "    pass\n"
        "with Service('s'), Method('m'):\n"
        "    with HTTP():\n"
        "        GET('/things/{id}')\n"
    )
    run = bastion("check", "bad_design:api", env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert run.returncode == 2
    assert f"{bad}:6" in run.stderr and "path parameter 'id'" in run.stderr
    assert "Traceback" not in run.stderr


def test_config_prints_every_variable_and_masks_secrets() -> None:
    run = bastion("config", "examples.orders.main:Settings",
                  env={"JWT_SECRET": "super-secret-value-123", "READ_TIMEOUT": "1m30s"})
    assert run.returncode == 0, run.stderr
    for name in ("HTTP_ADDR", "READ_HEADER_TIMEOUT", "DATABASE_URL", "JWT_SECRET"):
        assert name in run.stdout
    assert "super-secret-value-123" not in run.stdout
    assert "1m30s" in run.stdout


def test_config_exits_2_on_a_bad_environment() -> None:
    run = bastion("config", "examples.orders.main:Settings",
                  env={"READ_TIMEOUT": "soon", "WORKERS": "zero"})
    assert run.returncode == 2
    assert "READ_TIMEOUT" in run.stdout and "WORKERS" in run.stdout


def test_a_bad_target_is_a_clear_error() -> None:
    run = bastion("check", "no_such_module:api")
    assert run.returncode != 0
    assert "cannot import 'no_such_module'" in run.stderr
