"""Bastion's optional C modules: loaded only when built from the source beside them.

Two modules are compiled at install time when a C compiler is there (hatch_build.py):
`bastion.log._native` (the JSON line renderer's inner loop) and `bastion.otel._native` (the
HTTP server metrics' cells). Each has a pure-Python twin that gives the same results, more
slowly, so a missing compiler never costs a feature. A build left over from an older
source (an edited checkout) is not used: the build hook stamps each module with the
SHA-256 of its source, and `load` compares it with the source as it is now. Installed
without its source (a wheel), the build is the package's own. `BASTION_NATIVE=0` turns
every C module off (to compare, or to rule one out).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from types import ModuleType

__all__ = ["load"]


def load(name: str, source: Path) -> ModuleType | None:
    """The C module `name` if it was built from `source` as it is now, else None."""
    if os.environ.get("BASTION_NATIVE", "1") == "0":
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    try:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
    except OSError:
        return module
    return module if digest == getattr(module, "SOURCE_DIGEST", None) else None
