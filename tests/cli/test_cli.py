"""The `bastion` command: gen openapi, gen stubs, check and config, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from openapi_spec_validator import validate

from tests.support.paths import ROOT
from tests.support.served import bastion_serve, console_script, user_env


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
    # Masked by type: this variable counts failures per credential and holds none.
    (row,) = [ln for ln in run.stdout.splitlines() if ln.startswith("AUTH_FAILURES_PER_CRED")]
    assert row.split()[1:3] == ["10/minute", "10/minute"]


def test_config_exits_2_on_a_bad_environment() -> None:
    run = bastion("config", "examples.orders.main:Settings",
                  env={"READ_TIMEOUT": "soon", "WORKERS": "zero"})
    assert run.returncode == 2
    assert "READ_TIMEOUT" in run.stdout and "WORKERS" in run.stdout


def as_a_user(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The console script from `cwd` with no PYTHONPATH: what a user's shell runs."""
    return subprocess.run([console_script(), *args], check=False, cwd=cwd, env=user_env(),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "args",
    [
        ("check", "examples.orders.design:api"),
        ("gen", "openapi", "examples.orders.design:api"),
        ("gen", "stubs", "examples.orders.design:api"),
        ("config", "examples.orders.main:Settings"),
    ],
    ids=["check", "gen-openapi", "gen-stubs", "config"],
)
def test_every_command_imports_from_the_working_directory(args: tuple[str, ...]) -> None:
    run = as_a_user(*args)
    assert run.returncode == 0, run.stderr
    assert run.stdout


@pytest.mark.integration
def test_serve_imports_the_app_from_the_working_directory(tmp_path: Path) -> None:
    with bastion_serve("examples.orders.main:app", tmp_path) as served:
        r = httpx.get(served.url + "/ping", timeout=10)
        assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.integration
def test_the_readme_quick_start_serves_from_its_folder(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start"):]
    code = quick_start[quick_start.index("```python\n") + 10:quick_start.index("```\n\n")]
    (tmp_path / "hello.py").write_text(code)
    with bastion_serve("hello:app", tmp_path, cwd=tmp_path) as served:
        r = httpx.get(served.url + "/hello/Ada", timeout=10)
        assert r.status_code == 200 and r.json() == {"greeting": "Hello, Ada!"}


@pytest.mark.parametrize(
    "command",
    [("serve",), ("check",), ("gen", "openapi"), ("gen", "stubs"), ("config",)],
    ids=["serve", "check", "gen-openapi", "gen-stubs", "config"],
)
def test_an_import_failure_is_named_as_one(command: tuple[str, ...]) -> None:
    run = as_a_user(*command, "examples.no_such_module:app")
    assert run.returncode == 2
    assert "cannot import module 'examples.no_such_module'" in run.stderr
    assert str(ROOT) in run.stderr  # where it was looked for
    assert "invalid configuration" not in run.stderr
    assert "Traceback" not in run.stderr


def test_a_missing_dependency_names_the_line_that_imports_it(tmp_path: Path) -> None:
    (tmp_path / "needs_dep.py").write_text("import os\nimport no_such_dependency\napp = 1\n")
    for command in (("serve",), ("check",)):
        run = as_a_user(*command, "needs_dep:app", cwd=tmp_path)
        assert run.returncode == 2, run.stderr
        assert "cannot import module 'needs_dep'" in run.stderr
        assert "no_such_dependency" in run.stderr and "needs_dep.py:2" in run.stderr
        assert "Traceback" not in run.stderr


def test_a_missing_attribute_and_a_malformed_target_are_named() -> None:
    missing = as_a_user("serve", "examples.orders.main:nope")
    assert missing.returncode == 2
    assert "module 'examples.orders.main' has no attribute 'nope'" in missing.stderr
    malformed = as_a_user("check", "examples.orders.design")
    assert malformed.returncode == 2
    assert "is not an import string" in malformed.stderr


def test_a_target_of_the_wrong_kind_is_a_clear_error() -> None:
    run = as_a_user("config", "examples.orders.design:api")
    assert run.returncode == 2
    assert "is not a subclass of bastion.config.Config" in run.stderr
    assert "Traceback" not in run.stderr
