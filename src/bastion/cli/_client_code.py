"""Writing Python source for `bastion gen client`: types, values, docstrings, imports.

The generated package must pass `ruff` (lines of at most 100 characters, sorted imports)
and `mypy --strict` as written, so long expressions are wrapped here the way a person
would wrap them: one item per line inside the brackets.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from bastion.cli._client_model import TypeNode

__all__ = [
    "WIDTH",
    "docstring",
    "flat",
    "sentence",
    "sort_names",
    "type_source",
    "uses",
    "value_source",
    "wrap_call",
]

#: The longest line the generated code has (ruff's limit is 100).
WIDTH = 99

# Scalars a class member of the same name would shadow: spelled `builtins.X` there.
_SCALARS = frozenset({"str", "int", "float", "bool", "bytes"})


def flat(node: TypeNode, shadowed: frozenset[str] = frozenset()) -> str:
    """`node` on one line."""
    if node.union:
        return " | ".join(flat(u, shadowed) for u in node.union)
    text = _head(node, shadowed)
    if node.literal is not None:
        text = "Literal[" + ", ".join(value_source(v) for v in node.literal) + "]"
    elif node.args:
        text += "[" + ", ".join(flat(a, shadowed) for a in node.args) + "]"
    if node.meta:
        meta = ", ".join(f"{k}={value_source(v)}" for k, v in node.meta.items())
        text = f"Annotated[{text}, msgspec.Meta({meta})]"
    return text


def _head(node: TypeNode, shadowed: frozenset[str]) -> str:
    if node.head in _SCALARS and node.head in shadowed:
        return f"builtins.{node.head}"
    return node.head


def type_source(node: TypeNode, indent: int, room: int,
                shadowed: frozenset[str] = frozenset()) -> str:
    """`node` as source starting `indent` columns in, wrapped when longer than `room`."""
    one = flat(node, shadowed)
    if len(one) <= room:
        return one
    inner = indent + 4
    pad, end = " " * inner, " " * indent
    if node.union:
        parts = [type_source(u, indent, room, shadowed) for u in node.union]
        return " | ".join(parts)
    if node.meta:
        bare = TypeNode(node.head, node.args, node.literal)
        meta = wrap_call("msgspec.Meta", [f"{k}={value_source(v, inner + 4, len(k) + 1)}"
                                          for k, v in node.meta.items()], inner)
        base = type_source(bare, inner, WIDTH - inner - 1, shadowed)
        return f"Annotated[\n{pad}{base},\n{pad}{meta},\n{end}]"
    if node.literal is not None:
        items = "".join(f"{pad}{value_source(v, inner)},\n" for v in node.literal)
        return f"Literal[\n{items}{end}]"
    items = "".join(f"{pad}{type_source(a, inner, WIDTH - inner - 1, shadowed)},\n"
                    for a in node.args)
    return f"{_head(node, shadowed)}[\n{items}{end}]"


def value_source(value: Any, indent: int = 0, before: int = 0) -> str:
    """A literal value as source, strings in double quotes.

    A string too long for its line (`indent` columns in, after `before` characters) is
    split into pieces inside parentheses, one per line.
    """
    if not isinstance(value, str):
        return repr(value)
    text = _quoted(value)
    if indent + before + len(text) <= WIDTH - 1:
        return text
    pad = " " * (indent + 4)
    size = max(20, WIDTH - indent - 8)
    pieces: list[str] = []
    start = 0
    while start < len(value):
        end = min(len(value), start + size)
        while end < len(value) and len(_quoted(value[start:end])) > size + 2:
            end -= 1  # escapes make a piece longer than its characters
        pieces.append(_quoted(value[start:end]))
        start = end
    return "(\n" + "".join(f"{pad}{p}\n" for p in pieces) + " " * indent + ")"


def _quoted(value: str) -> str:
    # JSON's escapes are Python's too; non-ASCII text stays readable.
    return json.dumps(value, ensure_ascii=False)


def wrap_call(head: str, args: Sequence[str], indent: int, tail: str = "",
              before: int = 0) -> str:
    """`head(args)` on one line when it fits, else one argument per line.

    The call starts `before` characters after the line's `indent`.
    """
    one = f"{head}({', '.join(args)}){tail}"
    if indent + before + len(one) <= WIDTH and "\n" not in one:
        return one
    pad = " " * (indent + 4)
    body = "".join(f"{pad}{a},\n" for a in args)
    return f"{head}(\n{body}{' ' * indent}){tail}"


def docstring(text: str, indent: int) -> str:
    """A docstring: first line, then paragraphs wrapped to the line width."""
    pad = " " * indent
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    out: list[str] = []
    for i, para in enumerate(paragraphs):
        if i:
            out.append("")
        if para.startswith("    ") or para.lstrip().startswith("-") or "\n    " in para:
            out.extend(pad + line.rstrip() if line.strip() else "" for line in para.splitlines())
            continue
        first = i == 0
        width = WIDTH - indent - (3 if first else 0)
        lines = textwrap.wrap(" ".join(para.split()), width=width,
                              break_long_words=False, break_on_hyphens=False) or [""]
        out.extend(pad + line for line in lines)
    if not out:
        out = [pad + "."]
    out[0] = pad + '"""' + out[0][indent:]
    if len(out) == 1 and len(out[0]) + 3 <= WIDTH:
        return out[0] + '"""'
    return "\n".join(out) + "\n" + pad + '"""'


def sentence(text: str) -> str:
    """`text` ending with a full stop (design descriptions often lack one)."""
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?" else text + "."


def uses(source: str) -> dict[str, bool]:
    """Which of the usual imports a module's source needs (comments and docstrings aside)."""
    source = re.sub(r'"""[\s\S]*?"""', "", source)
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    return {
        "builtins": "builtins." in source,
        "Annotated": "Annotated[" in source,
        "Literal": "Literal[" in source,
        "Any": re.search(r"\bAny\b", source) is not None,
        "ClassVar": "ClassVar[" in source,
        "TypeAlias": ": TypeAlias = " in source,
        "overload": "@overload" in source,
        "msgspec": "msgspec." in source,
        "httpx": "httpx." in source,
    }


def sort_names(names: Iterable[str], *, exports: bool = False) -> list[str]:
    """Names in isort's order: CONSTANTS, Classes, functions.

    Imported names are compared ignoring case, as isort does; `__all__` (`exports`)
    case-sensitively, as ruff's RUF022 does.
    """

    def key(name: str) -> tuple[int, str, str]:
        kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
        return (kind, name if exports else name.lower(), name)

    return sorted(set(names), key=key)
