"""One import function for every entry point: what it finds, and how it says it cannot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bastion._importer import import_from_string
from bastion.errors import ImportStringError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory as the working directory, with sys.path restored after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    return tmp_path


def test_a_module_in_the_working_directory_is_found(project: Path) -> None:
    pkg = project / "imp_pkg_found"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text("class Box:\n    inner = 42\n")
    assert import_from_string("imp_pkg_found.main:Box.inner") == 42
    assert sys.path[0] == str(project)


def test_the_missing_module_is_named_with_where_it_was_looked_for(project: Path) -> None:
    with pytest.raises(ImportStringError) as err:
        import_from_string("imp_absent.main:app")
    assert err.value.module == "imp_absent.main"
    assert isinstance(err.value, ImportError)
    assert str(err.value) == (
        "cannot import module 'imp_absent.main': no module named 'imp_absent' in the "
        f"working directory ({project}) or on PYTHONPATH"
    )


def test_a_failing_import_inside_the_module_names_its_line(project: Path) -> None:
    (project / "imp_needs.py").write_text("import os\nfrom os import no_such_name\n")
    with pytest.raises(ImportStringError) as err:
        import_from_string("imp_needs:app")
    assert "cannot import module 'imp_needs': cannot import name 'no_such_name'" in str(err.value)
    assert str(err.value).endswith("(at imp_needs.py:2)")


def test_an_error_of_the_module_itself_keeps_its_traceback(project: Path) -> None:
    (project / "imp_buggy.py").write_text("app = 1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        import_from_string("imp_buggy:app")


@pytest.mark.parametrize("ref", ["imp_only_module", "imp_x:", ":app", ""])
def test_a_malformed_string_says_the_form(ref: str) -> None:
    with pytest.raises(ImportStringError, match="is not an import string: write module:attr"):
        import_from_string(ref)


def test_a_missing_attribute_is_named(project: Path) -> None:
    (project / "imp_attrs.py").write_text("app = object()\n")
    with pytest.raises(ImportStringError, match=r"module 'imp_attrs' has no attribute 'app\.x'"):
        import_from_string("imp_attrs:app.x")
