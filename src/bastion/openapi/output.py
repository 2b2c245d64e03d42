"""Writing an OpenAPI document: stable JSON, readable YAML, and files for `bastion gen`."""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from typing import Any

import yaml as yaml_lib

from bastion.dsl.expr import APIExpr
from bastion.openapi.spec import spec

__all__ = ["to_json", "to_yaml", "write"]


def to_json(doc: dict[str, Any]) -> bytes:
    """Return `doc` as indented UTF-8 JSON; keys keep the document's order, so output is stable."""
    return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


class _Dumper(yaml_lib.SafeDumper):
    """A safe YAML dumper that writes shared sub-dicts in full instead of as `&id001` anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        """Never alias: OpenAPI readers expect plain YAML."""
        return True


def _str(dumper: yaml_lib.SafeDumper, data: str) -> yaml_lib.ScalarNode:
    # Descriptions read best as `|` blocks; plain style mangles their newlines.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(doc: dict[str, Any]) -> str:
    """Return `doc` as YAML, keys in the document's order and no anchors or aliases."""
    text: str = yaml_lib.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return text


def write(api: APIExpr, path: str | None, *, yaml: bool = False) -> str:
    """Write the spec of `api` as JSON (or YAML) to `path`, or to stdout when None; return it.

    The file is replaced atomically, so a reader never sees half a document.
    """
    doc = spec(api)
    text = to_yaml(doc) if yaml else to_json(doc).decode("utf-8")
    if path is None:
        sys.stdout.write(text)
        return text
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".openapi-{secrets.token_hex(8)}.tmp")
    # 0o666 less the umask, like a plain open(); an existing file keeps its own mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if os.path.exists(path):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return text
