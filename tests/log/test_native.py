"""The C line renderer writes exactly what the msgspec path writes, or declines the line."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.log import Logger
from bastion.log import _compiled as compiled
from bastion.log._format import _UTCText

ROOT = Path(__file__).resolve().parents[2]
native = compiled._NATIVE


class Text(str):
    """A str subclass: msgspec writes it as text, the C renderer declines it."""


# Values of every kind a line can hold, the awkward ones included.
_VALUES = st.one_of(
    st.text(max_size=40),  # control characters, quotes, non-ASCII, lone surrogates
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN, infinities, -0.0, tiny and huge ones
    st.floats(0, 1e9).map(lambda x: round(x * 1e6) / 1000),  # durations in ms to the µs
    st.booleans(),
    st.none(),
    st.builds(uuid.UUID, st.uuids().map(str)),
    st.text(max_size=5).map(Text),
)
_KEYS = st.text(st.characters(max_codepoint=0x7E, exclude_characters='"\\'), min_size=1,
                max_size=8)


def _logger(**kw: Any) -> Logger:
    return Logger(stream=io.StringIO(), format="json", sync=True, **kw)


def _plan(logger: Logger, context: dict[str, Any], keys: tuple[str, ...],
          span: bool, service: str | None) -> Any:
    table = logger._compiled
    assert table is not None
    shape = (tuple(context), keys, span, service is not None)
    return table._builds.get(shape) or table._compile(shape)


def _msgspec_line(logger: Logger, plan: Any, t: float, context: dict[str, Any],
                  values: tuple[Any, ...], service: str | None) -> str:
    table = logger._compiled
    assert table is not None
    build = plan[0]
    data = table._encode(build(_UTCText()(t), "info", "m", context, values,
                               "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", service))
    return data.decode() + "\n"


def test_the_c_renderer_is_built_in_this_environment() -> None:
    # `make venv` compiles it (hatch_build.py): a red here is a broken build, which would
    # otherwise only show as slower lines.
    assert native is not None, "bastion.log._native was not built, or not from this source"


@settings(max_examples=400, deadline=None)
@given(
    context=st.dictionaries(_KEYS, _VALUES, max_size=4),
    own=st.dictionaries(_KEYS, _VALUES, max_size=5),
    span=st.booleans(),
    service=st.sampled_from([None, "orders", "ünïcode"]),
    t=st.floats(-1e10, 1e11),
)
def test_a_rendered_line_is_the_msgspec_line(
    context: dict[str, Any], own: dict[str, Any], span: bool, service: str | None, t: float,
) -> None:
    logger = _logger(service=service, max_keys=64)
    keys = tuple(own)
    plan = _plan(logger, context, keys, span, service)
    if plan is None or plan[1] is None:  # a shape with no native plan (repeated keys)
        return
    values = tuple(own.values())
    ids = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331") if span else ("", "")
    line = compiled._render(plan[1], plan[2], t, "info", "m", context, values, *ids,
                            service, 1 << 20)
    try:
        expected = _msgspec_line(logger, plan, t, context, values, service)
    except msgspec.EncodeError:  # lone surrogates: neither writes the line
        assert line is None
        return
    if line is not None:
        assert line == expected
    else:  # it declines only what it does not write as msgspec does
        everything = [*context.values(), *values, service]
        assert any(_declined(v) for v in everything) or not 1000 <= _year(t) <= 9999


def _declined(value: object) -> bool:
    if type(value) is float:
        return not (value == 0.0 or 1e-4 <= abs(value) < 1e16) or math.isnan(value)
    if type(value) is int:
        return not -(2**63) <= value < 2**63
    if type(value) is str:
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    return value not in (None, True, False)


def _year(t: float) -> int:
    return time.gmtime(round(t * 1000) // 1000).tm_year


@settings(max_examples=500, deadline=None)
@given(t=st.one_of(st.floats(-3e10, 2.5e11),
                   st.integers(0, 2 * 10**12).map(lambda ms: ms / 1000 + 0.0005)))
def test_the_time_text_is_the_python_time_text(t: float) -> None:
    line = compiled._render((b'{"time":', b"}"), (-1,), t, "", "", {}, (), "", "", None, 100)
    if 1000 <= _year(t) <= 9999:
        assert line == '{"time":"' + _UTCText()(t) + '"}\n'
    else:
        assert line is None


def test_a_line_over_the_limit_is_declined_one_at_it_is_written() -> None:
    pieces, slots = (b'{"a":', b"}"), (0,)
    text = "x" * 20
    exact = len('{"a":"' + text + '"}')
    args = (pieces, slots, 0.0, "", "", {}, (text,), "", "", None)
    assert compiled._render(*args, exact) == '{"a":"' + text + '"}\n'
    assert compiled._render(*args, exact - 1) is None
    # Escapes count as written: a quote is two bytes, a control character six.
    for char, escaped in (('"', '\\"'), ("\x01", "\\u0001")):
        text = "a" + char * 10
        line = '{"a":"a' + escaped * 10 + '"}'
        args = (pieces, slots, 0.0, "", "", {}, (text,), "", "", None)
        assert compiled._render(*args, len(line)) == line + "\n"
        assert compiled._render(*args, len(line) - 1) is None
    # A limit above the renderer's stack buffer: the line is built on the heap.
    long = "y" * 10_000
    assert compiled._render(pieces, slots, 0.0, "", "", {}, (long,), "", "", None,
                            20_000) == '{"a":"' + long + '"}\n'


def test_the_logger_writes_declined_values_as_the_general_path_does() -> None:
    stream = io.StringIO()
    logger = Logger(stream=stream, format="json", sync=True)
    odd = {"big": 2**70, "nan": math.nan, "tiny": 1e-7, "uuid": uuid.UUID(int=1),
           "text": Text("t"), "neg": -0.0, "ms": 12.345, "huge": 1e300}
    logger.write_info("odd", odd)
    line = msgspec.json.decode(stream.getvalue())
    assert line["big"] == 2**70 and line["nan"] is None and line["tiny"] == 1e-7
    assert line["uuid"] == str(uuid.UUID(int=1)) and line["text"] == "t"
    assert line["ms"] == 12.345 and line["huge"] == 1e300
    assert '"neg":-0.0' in stream.getvalue()


def test_a_build_of_another_source_is_not_loaded(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source = ROOT / "src" / "bastion" / "log" / "_native.c"
    same = tmp_path / "same.c"
    same.write_bytes(source.read_bytes())
    edited = tmp_path / "edited.c"
    edited.write_bytes(source.read_bytes() + b"\n/* edited */\n")
    assert compiled.load_native(same) is native
    assert compiled.load_native(edited) is None  # stale: the lines stay right, in Python
    assert compiled.load_native(tmp_path / "absent.c") is native  # a wheel without it
    monkeypatch.setenv("BASTION_NATIVE", "0")
    assert compiled.load_native(same) is None


def test_without_the_c_renderer_lines_are_the_same() -> None:
    # The pure-Python plans against the general path, in a process where the C module is
    # switched off (the property test of tests/log/test_compiled.py).
    env = {**os.environ, "BASTION_NATIVE": "0"}
    check = subprocess.run(
        [sys.executable, "-c", "from bastion.log import _compiled; "
         "assert _compiled._NATIVE is None"], env=env, cwd=ROOT, check=False)
    assert check.returncode == 0
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/log/test_compiled.py"], env=env, cwd=ROOT, capture_output=True, text=True,
        check=False)
    assert run.returncode == 0, run.stdout[-2000:]


# --------------------------------------------------- Lines: fixed_line's lookup and ids in C


class _Span:
    """Anything with `trace_id` and `span_id`: the ids lines take from a span context."""

    def __init__(self, trace_id: object, span_id: object) -> None:
        self.trace_id, self.span_id = trace_id, span_id


_IDS = st.one_of(
    st.integers(0, 2**128 - 1),
    st.sampled_from([0, 1, 2**64 - 1, 2**64, 2**128 - 1, 2**128, -1, -(2**70), True]),
    st.integers(-(2**130), 2**130),
    st.sampled_from([None, "0af7", 1.5]),
)


def _twins(logger: Logger) -> tuple[Any, Any]:
    table = logger._compiled
    assert table is not None
    return table.fixed_line, table._fixed_line


def test_the_compiled_table_uses_the_c_lines() -> None:
    native_line, python_line = _twins(_logger())
    assert native is not None
    assert type(native_line.__self__) is native.Lines
    assert native_line != python_line


def _outcome(call: Any, *args: Any) -> tuple[str, object]:
    try:
        return "line", call(*args)
    except Exception as exc:  # both must fail the same way, if at all
        return "error", type(exc)


@settings(max_examples=400, deadline=None)
@given(
    context=st.dictionaries(_KEYS, _VALUES, max_size=4),
    own=st.dictionaries(_KEYS, _VALUES, max_size=5),
    span=st.one_of(st.none(), st.builds(_Span, _IDS, _IDS)),
    service=st.sampled_from([None, "orders", "ünïcode"]),
    t=st.one_of(st.floats(-1e10, 1e11), st.integers(0, 2**40)),
    rank=st.sampled_from([10, 20, 30, 40, 15]),
    first=st.booleans(),
)
def test_the_c_lines_are_the_python_lines(
    context: dict[str, Any], own: dict[str, Any], span: _Span | None, service: str | None,
    t: float, rank: int, first: bool,
) -> None:
    # The same line or the same error, for a shape seen before or new (the C path hands a
    # new shape, an odd id, a non-float time or a declined value to the Python twin).
    keys, values = tuple(own), tuple(own.values())
    args = (t, rank, "m", context, keys, values, span, service)
    native_line, _ = _twins(_logger(service=service, max_keys=64))
    _, python_line = _twins(_logger(service=service, max_keys=64))
    if not first:  # the shape compiled already, in both tables
        _outcome(native_line, *args)
        _outcome(python_line, *args)
    assert _outcome(native_line, *args) == _outcome(python_line, *args)
    # Again: the C path now has the shape, and the span's ids in its cache.
    assert _outcome(native_line, *args) == _outcome(python_line, *args)


def test_the_c_lines_format_each_span_once_and_follow_a_new_span() -> None:
    native_line, python_line = _twins(_logger())
    calls = []

    class Counted(_Span):
        @property
        def trace_id(self) -> int:  # type: ignore[override]
            calls.append(self)
            return self._trace_id

        @trace_id.setter
        def trace_id(self, value: int) -> None:
            self._trace_id = value

    first, second = Counted(2**127 + 5, 7), Counted(1, 2**64 - 1)
    for span in (first, first, first, second, second, first):
        args = (1.5, 20, "end", {"request_id": "r"}, ("a",), (1,), span, None)
        assert native_line(*args) == python_line(*args)
    assert '"trace_id":"00000000000000000000000000000001"' in native_line(*args[:6], second,
                                                                          None)
    assert calls.count(first) >= 2 and calls.count(second) >= 1
    native_calls = len(calls)
    native_line(1.5, 20, "end", {"request_id": "r"}, ("a",), (1,), second, None)
    assert len(calls) == native_calls  # the cached span: its ids are not read again


def test_the_c_lines_keep_a_shape_the_general_path_takes() -> None:
    # A shape whose plan is None (more pairs than max_keys) stays None: the caller takes
    # the general path, which counts what it drops.
    logger = _logger(max_keys=2)
    native_line, python_line = _twins(logger)
    args = (1.0, 20, "m", {"x": 1}, ("a", "b", "c"), (1, 2, 3), None, None)
    assert python_line(*args) is None
    assert native_line(*args) is None
    assert native_line(*args) is None
