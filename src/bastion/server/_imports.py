"""Find an app from an import string, and the import string of an app object."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from bastion.errors import ConfigError

__all__ = ["import_app", "import_string_for"]


def import_app(ref: str) -> Any:
    """Return the object named by "module:attribute" (the attribute may be dotted).

    Raises ConfigError when the string is malformed, the module does not exist or lacks the
    attribute. An error raised while the module runs propagates with its traceback.
    """
    module_name, sep, attribute = ref.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError([f"{ref!r} is not an import string such as 'myservice.main:app'"])
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConfigError([f"{ref!r}: no module named {exc.name!r}"]) from None
        raise
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            problem = f"{ref!r}: {module_name!r} has no attribute {attribute!r}"
            raise ConfigError([problem]) from None
    return obj


def import_string_for(app: object) -> str | None:
    """Return "module:name" of a module-level variable holding `app`, or None.

    The main module is searched first: `bastion.run(app)` is usually called from it, and a
    worker process started with multiprocessing's spawn imports it again as `__main__`.
    """
    main = sys.modules.get("__main__")
    modules = [("__main__", main)] if main is not None else []
    modules += [(name, m) for name, m in list(sys.modules.items()) if m is not main]
    for module_name, module in modules:
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            if value is app and not name.startswith("__"):
                return f"{module_name}:{name}"
    return None
