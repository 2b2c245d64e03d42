"""`bastion new`: a project that passes its own tests and `mypy --strict` out of the box."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bastion.cli import main
from bastion.cli.new import NewProjectError, create


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # The current venv and the project on PYTHONPATH: nothing is installed.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.integration
def test_a_new_project_passes_its_tests_and_mypy_strict(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    project = tmp_path / "shop-api"
    assert main(["new", "shop-api", "--dir", str(project)]) == 0
    assert "make test && make demo" in capsys.readouterr().out
    for rel in ("pyproject.toml", "Makefile", "README.md", "shop_api/design.py",
                "shop_api/service.py", "shop_api/main.py", "shop_api/stubs.py",
                "tests/test_items.py", "deploy/Dockerfile", "deploy/otel-collector.yaml",
                "deploy/kubernetes/deployment.yaml"):
        assert (project / rel).is_file(), rel
    tests = _run(["pytest", "-q", "-p", "no:cacheprovider"], project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout
    typed = _run(["mypy", "--cache-dir", str(tmp_path / ".mypy")], project)  # its config: strict
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "Success: no issues found in 7 source files" in typed.stdout
    linted = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "--no-cache",
                             "shop_api", "tests"], cwd=project, capture_output=True, text=True,
                            timeout=60, check=False)
    assert linted.returncode == 0, linted.stdout
    pyproject = (project / "pyproject.toml").read_text()
    assert 'dependencies = ["bastion>=' in pyproject and "strict = true" in pyproject
    makefile = (project / "Makefile").read_text()
    for target in ("demo:", "test:", "check:", "deploy:"):
        assert f"\n{target}" in makefile
    dry = subprocess.run(["make", "-n", "test", "check", "demo"], cwd=project,
                         capture_output=True, text=True, timeout=30, check=False)
    assert dry.returncode == 0, dry.stderr
    assert ".venv/bin/bastion serve shop_api.main:app" in dry.stdout
    # The deploy files are item 2's, for this project's own App.
    deployment = yaml.safe_load((project / "deploy/kubernetes/deployment.yaml").read_text())
    kubernetes_validate.validate(deployment, "1.33", strict=True)
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "shop-api:0.1.0"
    assert "API_KEYS" in {e["name"] for e in c["env"] if "secretKeyRef" in e["valueFrom"]}
    dockerfile = (project / "deploy/Dockerfile").read_text()
    assert 'CMD ["bastion", "serve", "shop_api.main:app"]' in dockerfile
    assert "COPY --from=builder --chown=root:root /src/shop_api /app/shop_api" in dockerfile
    assert "shop_api" not in sys.modules  # imported to plan its deployment, then forgotten


def test_a_bad_name_or_a_taken_folder_is_refused(tmp_path: Path) -> None:
    for name, why in (("1shop", "starting with a letter"), ("json", "already exists"),
                      ("class", "keyword"), ("my shop", "use letters")):
        with pytest.raises(NewProjectError, match=why):
            create(name, tmp_path / "p")
    assert not (tmp_path / "p").exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(NewProjectError, match="exists and is not an empty folder"):
        create("shop", taken)
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
