"""Swagger UI's files, read from the `swagger-ui-py` package: the one adapter to it.

swagger-ui-py's public API wires Swagger UI into other frameworks; Bastion only reads the
files in its `static` folder, a layout the package does not promise to keep. So the
package is pinned to one release in pyproject.toml (`SWAGGER_UI_PY`), and a contract
test checks the layout and the version of Swagger UI it ships.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

__all__ = ["FILES", "SWAGGER_UI_PY", "SWAGGER_UI_VERSION", "inline_scripts", "read"]

#: The release of swagger-ui-py that pyproject.toml pins, and the Swagger UI it ships.
SWAGGER_UI_PY = "25.7.1"
SWAGGER_UI_VERSION = "5.25.3"

#: The files the docs page loads, and their media types. Nothing else is served.
FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "oauth2-redirect.html": "text/html; charset=utf-8",
}


def _static() -> Path:
    # find_spec locates the package without running it: its __init__ imports jinja2 and
    # handlers for other frameworks, none of which the files need.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the docs page needs Swagger UI's files: `pip install swagger-ui-py=="
            f"{SWAGGER_UI_PY}` (a dependency of bastion)", name="swagger_ui"
        )
    return Path(spec.origin).parent / "static"


def read(name: str) -> bytes:
    """Return the bytes of Swagger UI's file `name` (one of `FILES`)."""
    if name not in FILES:
        raise KeyError(name)
    return (_static() / name).read_bytes()


def inline_scripts(html: str) -> tuple[list[str], list[str]]:
    """Return the inline code of `html`: its `<script>` bodies, and its `on…=` handlers.

    oauth2-redirect.html runs an inline script from `onload`; a strict
    Content-Security-Policy allows exactly these, by their hashes.
    """
    bodies = re.findall(r"<script>(.*?)</script>", html, re.S)
    handlers = re.findall(r"\son[a-z]+=\"([^\"]*)\"", html)
    return bodies, handlers
