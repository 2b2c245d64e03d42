"""The import string of an app object (importing one is `bastion._importer`'s job)."""

from __future__ import annotations

import sys

__all__ = ["import_string_for"]


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
