"""Import the object an import string names, as uvicorn does: "package.module:attribute".

One function for every entry point — `bastion serve`, `gen`, `check`, `config`, and
`bastion.run("module:app")` with its reloader and workers — so all of them find the
same modules and report a failure the same way.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

from bastion.errors import ImportStringError

__all__ = ["import_from_string"]


def import_from_string(ref: str) -> Any:
    """Return the object `ref` names: "module:attribute", the attribute possibly dotted.

    The working directory goes first on `sys.path`, as with uvicorn's command line, so
    `bastion serve examples.orders.main:app` works from the project's root. Raises
    `ImportStringError` when the string is malformed, a module cannot be imported (the
    named one or one it imports) or the attribute is missing. Any other error raised
    while the module runs is the module's own bug and propagates with its traceback.
    """
    module_name, sep, attribute = ref.partition(":")
    if not sep or not module_name or not attribute:
        raise ImportStringError(
            ref, f"{ref!r} is not an import string: write module:attribute, e.g. 'service.main:app'"
        )
    _put_working_directory_on_path()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportStringError(ref, _why(module_name, exc), module=module_name) from None
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportStringError(
                ref, f"module {module_name!r} has no attribute {attribute!r}", module=module_name
            ) from None
    return obj


def _put_working_directory_on_path() -> None:
    cwd = os.getcwd()
    if not any(os.path.abspath(entry or ".") == cwd for entry in sys.path):
        sys.path.insert(0, cwd)


def _why(module_name: str, exc: ImportError) -> str:
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing and (module_name == missing or module_name.startswith(missing + ".")):
        # The module itself (or its package) is not there: say where it was looked for.
        return (
            f"cannot import module {module_name!r}: no module named {missing!r} in the "
            f"working directory ({os.getcwd()}) or on PYTHONPATH"
        )
    # The module exists but an import inside it failed: point at that line.
    where = _importing_line(exc)
    return f"cannot import module {module_name!r}: {exc}" + (f" (at {where})" if where else "")


def _importing_line(exc: ImportError) -> str | None:
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<frozen importlib")
    ]
    if not frames:
        return None
    last = frames[-1]
    if os.path.abspath(last.filename) == os.path.abspath(__file__):
        return None  # the failing import is the module itself
    path = os.path.abspath(last.filename)
    if path.startswith(os.getcwd() + os.sep):
        path = os.path.relpath(path)
    return f"{path}:{last.lineno}"
