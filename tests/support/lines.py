"""Source lines, for asserting the file:line a `DesignError` names."""

from __future__ import annotations

import sys


def next_line() -> int:
    """The number of the line right below the caller's current line."""
    return sys._getframe(1).f_lineno + 1


def this_line() -> int:
    """The number of the caller's current line."""
    return sys._getframe(1).f_lineno


def at(line: int) -> str:
    """How a `DesignError` names `line` of the caller's file: `"<file>:<line>: "`."""
    return f"{sys._getframe(1).f_code.co_filename}:{line}: "
