"""Logged stacks: whole when they fit, cut from the middle when not, the user's frames kept."""

from __future__ import annotations

import json

from bastion import log


def _fail_through_libraries(depth: int) -> None:
    # Each level goes through the json package (three library frames) and back into
    # this file (two user frames), as a handler calling a client library would.
    if depth == 0:
        raise LookupError("the root cause")
    json.loads("{}", object_hook=lambda _: _fail_through_libraries(depth - 1))


def _recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("too deep for the budget")
    _recurse(depth - 1)


def _caught(fn: object, *args: object) -> BaseException:
    try:
        fn(*args)  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_a_stack_that_fits_is_whole() -> None:
    exc = _caught(_fail_through_libraries, 3)
    text = log.stack_text(exc)
    assert text.startswith("Traceback (most recent call last):")
    assert text.endswith("LookupError: the root cause")
    assert text.count("in _fail_through_libraries\n") == 4
    assert text.count("in <lambda>\n") == 3
    assert "left out" not in text


def test_a_long_stack_loses_library_frames_from_the_middle_never_the_users() -> None:
    exc = _caught(_fail_through_libraries, 30)
    full = log.stack_text(exc, limit=10**9)
    assert len(full.encode()) > 16 * 1024  # the case the cut is for
    text = log.stack_text(exc)
    assert len(text.encode()) <= 16 * 1024
    # Every frame of this file is still there, and the ends of the stack too.
    mine = f'File "{__file__}"'
    assert text.count(mine) == full.count(mine) == 1 + 31 + 30  # _caught, calls, lambdas
    assert text.endswith("LookupError: the root cause")
    assert text.startswith("Traceback (most recent call last):")
    assert "frames left out" in text
    # The library frames kept are the outermost and innermost ones, not the middle.
    assert text.index("left out") > text.index("_fail_through_libraries")


def test_a_stack_of_user_frames_over_the_budget_is_cut_in_the_middle() -> None:
    exc = _caught(_recurse, 400)
    text = log.stack_text(exc, limit=8 * 1024)
    assert len(text.encode()) <= 8 * 1024
    assert "frames left out" in text
    assert text.endswith("RecursionError: too deep for the budget")
    assert text.splitlines()[1].strip().startswith(f'File "{__file__}"')


def test_causes_are_part_of_the_stack() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        text = log.stack_text(exc)
    assert "KeyError: 'inner'" in text
    assert "direct cause of the following exception" in text
    assert text.endswith("RuntimeError: outer")
