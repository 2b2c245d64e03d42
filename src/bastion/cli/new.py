"""`bastion new NAME`: a new project that passes its own tests and `mypy --strict`.

It writes the design, the service, `main.py`, tests, a Makefile and a pyproject (see
`_scaffold`), then the typed stubs (`bastion gen stubs`) and the deploy files
(`bastion gen deploy`, from the new project's own App).
"""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import os
import re
import shutil
import sys
from pathlib import Path

import bastion
from bastion.cli import deploy
from bastion.cli._scaffold import FILES
from bastion.cli.stubs import render as render_stubs
from bastion.errors import BastionError

__all__ = ["NewProjectError", "create", "main", "package_name"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class NewProjectError(BastionError, ValueError):
    """The project cannot be created: a bad name, or its folder is taken."""


def package_name(name: str) -> str:
    """The Python package of project `name`: lowercase, '-' as '_'.

    Raises `NewProjectError` for a name that is not one, or that would shadow a module
    Python already finds (a project named `json` would import the standard library's).
    """
    if not _NAME.match(name):
        raise NewProjectError(f"project name {name!r}: use letters, digits, '-' and '_', "
                              "starting with a letter")
    pkg = name.lower().replace("-", "_")
    if keyword.iskeyword(pkg):
        raise NewProjectError(f"project name {name!r} is a Python keyword")
    if importlib.util.find_spec(pkg) is not None:
        raise NewProjectError(f"project name {name!r}: a module {pkg!r} already exists "
                              "(it would shadow it, or be shadowed); choose another name")
    return pkg


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def create(name: str, folder: Path) -> list[Path]:
    """Write project `name` into `folder` (new, or empty); return the files written."""
    pkg = package_name(name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise NewProjectError(f"{folder} exists and is not an empty folder")
    fresh = not folder.exists()
    try:
        return _write_project(name, pkg, folder)
    except BaseException:
        # Leave nothing half-made: the folder was new or empty.
        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _write_project(name: str, pkg: str, folder: Path) -> list[Path]:
    values = {"name": name, "pkg": pkg, "title": pkg.replace("_", " ").title(),
              "bastion_version": bastion.__version__}
    files = {_fill(rel, values): _fill(text, values) for rel, text in FILES.items()}
    written = deploy.write(files, folder)
    with _Importable(folder, pkg):
        design = importlib.import_module(f"{pkg}.design")
        stubs = folder / pkg / "stubs.py"
        stubs.write_text(render_stubs(design.api), encoding="utf-8")
        written.append(stubs)
        target = f"{pkg}.main:app"
        app = importlib.import_module(f"{pkg}.main").app
        config = app.config if app.config is not None else bastion.config.load()
        plan = deploy.make_plan(app.api, config, target, deploy.DeployOptions(),
                                deploy.source_paths(target, folder))
        written += deploy.write(deploy.render(plan), folder / "deploy")
    return written


class _Importable:
    """`folder` first on `sys.path` while the new project is imported, then forgotten."""

    def __init__(self, folder: Path, pkg: str) -> None:
        self.folder = str(folder.resolve())
        self.pkg = pkg

    def __enter__(self) -> None:
        sys.path.insert(0, self.folder)

    def __exit__(self, *exc: object) -> None:
        sys.path.remove(self.folder)
        for name in [m for m in sys.modules if m == self.pkg or m.startswith(self.pkg + ".")]:
            del sys.modules[name]


def main(name: str, folder: str | None) -> int:
    """Run `bastion new`: create the project and say what to do next."""
    target = Path(folder) if folder is not None else Path(name)
    written = create(name, target)
    where = os.path.relpath(target)
    print(f"created {where}: {len(written)} files")
    print(f"  cd {where} && make test && make demo")
    return 0
