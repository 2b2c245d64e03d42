"""Stack traces for log lines: whole when they fit, cut from the middle when they do not.

A stack is cut to a byte budget (16 KiB by default) by leaving out frames from the middle,
library frames (the standard library, installed packages, Bastion itself) before the
service's own: the outermost frames say how the request got there, the innermost ones
where it failed, and the user's frames in between are what they will read first. Only a
stack made of more user frames than the budget holds (deep recursion) loses some of them.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from collections.abc import Iterator
from typing import Final

__all__ = ["DEFAULT_STACK_SIZE", "stack_text"]

#: Bytes a logged stack may take before frames are left out.
DEFAULT_STACK_SIZE: Final = 16 * 1024

# Bytes of one "… N frames left out …" line (N up to 4 digits).
_MARKER: Final = len("  … 9999 frames left out …\n".encode())
_BASTION: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _library_dirs() -> tuple[str, ...]:
    dirs = {_BASTION}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.abspath(path) + os.sep)
    return tuple(sorted(dirs))


_LIBRARIES: Final = _library_dirs()


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen ...>, <string>
        return True
    return os.path.abspath(filename).startswith(_LIBRARIES)


# One piece of a rendered stack: its text, and whether it may be left out.
_Piece = tuple[str, bool]


def _pieces(exc: BaseException) -> Iterator[_Piece]:
    te = traceback.TracebackException.from_exception(exc)
    chain: list[tuple[str | None, traceback.TracebackException]] = []
    seen: set[int] = set()
    current: traceback.TracebackException | None = te
    message: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((message, current))
        if current.__cause__ is not None:
            message = "\nThe above exception was the direct cause of the following exception:\n\n"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            message = (
                "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
            current = current.__context__
        else:
            current = None
    for message, part in reversed(chain):
        if part.exceptions is not None:  # an exception group: rendered whole, never cut
            yield "".join(part.format(chain=False)), False
        else:
            if part.stack:
                yield "Traceback (most recent call last):\n", False
                for frame in part.stack:
                    yield part.stack.format_frame_summary(frame), _is_library(frame.filename)
            yield "".join(part.format_exception_only()), False
        if message is not None:
            yield message, False


def stack_text(exc: BaseException, limit: int = DEFAULT_STACK_SIZE) -> str:
    """Return the traceback of `exc` (its causes included), at most `limit` bytes of UTF-8."""
    pieces = list(_pieces(exc))
    sizes = [len(text.encode("utf-8", "backslashreplace")) for text, _ in pieces]
    total = sum(sizes)
    if total <= limit:
        return "".join(text for text, _ in pieces).rstrip("\n")
    keep = [True] * len(pieces)
    last = len(pieces) - 1
    # Leave out library frames nearest the middle first, then (if still too long) any frame.
    # Each run of left-out frames costs one marker line: count it in.
    middle = len(pieces) / 2
    for droppable_only in (True, False):
        order = sorted(
            (i for i, (_, library) in enumerate(pieces) if library or not droppable_only),
            key=lambda i: abs(i - middle),
        )
        for i in order:
            if total <= limit:
                break
            if keep[i] and _is_frame(pieces[i][0]):
                keep[i] = False
                gaps = (i > 0 and not keep[i - 1]) + (i < last and not keep[i + 1])
                total += _MARKER * (1 - gaps) - sizes[i]
    out: list[str] = []
    left_out = 0
    for i, (text, _) in enumerate(pieces):
        if keep[i]:
            if left_out:
                out.append(f"  … {left_out} frame{'s' if left_out > 1 else ''} left out …\n")
                left_out = 0
            out.append(text)
        else:
            left_out += 1
    text = "".join(out).rstrip("\n")
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return text
    # Headers and messages alone are over the limit: keep both ends of the text.
    half = (limit - 40) // 2
    head = data[:half].decode("utf-8", "ignore")
    tail = data[-half:].decode("utf-8", "ignore")
    return f"{head}\n  … {len(data) - 2 * half} bytes left out …\n{tail}"


def _is_frame(text: str) -> bool:
    return text.startswith("  File ")
