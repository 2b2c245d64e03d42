"""JSON lines rendered by code made once per line shape.

A service writes lines of a few shapes over and over: the request log's `start` and `end`
lines, each with the request's context fields (`request_id`, then `service`, `method`),
the trace ids and `service.name`. The general path merges, classifies and orders every
pair of every line. Here the shape of a line — the keys of its context, the keys of its
own fields, whether it has a span and a `service.name` — decides once which key goes
where, and that decision becomes a plan that each later line of the shape follows:

- natively, when the C module `bastion.log._native` is built (the install compiles it,
  see hatch_build.py): the line's keys encoded once, as the bytes between its values,
  and where each value comes from; one C call writes the line, time text included;
- in Python otherwise, and for the values the C module declines (any type but str, int,
  float, bool and None; floats and times it would not write as msgspec does): one
  instance of a struct type made for the shape, whose fields encode as the line's keys
  in their final order, one encode.

The request observer passes its own pairs as a key tuple it keeps and a tuple of values
(`fixed_line`), so its lines build no dict at all.

The output is byte for byte what the general path writes, natively or not (property
tests hold them to that: tests/log/test_compiled.py, test_native.py). A line takes the
general path instead when:

- the Logger has more than one output, renames keys, or adds `file` or key functions
  (then it has no CompiledJSON at all);
- the line has an `err`, or a message that is not a `str`;
- a value is a container (the general path caps its items), or the line is longer than
  the value limit (the general path cuts each value), or it has more than `max_keys` pairs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Final, cast

import msgspec
from opentelemetry import trace as otel_trace

from bastion._cext import load
from bastion.log._format import RESERVED_KEYS, STANDARD_KEYS, JSONFormat
from bastion.log._state import flat_values, span_ids

__all__ = ["CompiledJSON"]

#: Shapes remembered at most; past it the table starts again (a service has a handful).
_MAX_SHAPES: Final = 512

# What a shape compiles to: the line (a struct or a dict) from (time text, level name,
# message, context fields, the line's own values in its keys' order, trace id, span id,
# service name), or None when its pairs exceed max_keys and the general path must count
# what it drops.
_Build = Callable[[str, str, str, Mapping[str, object], tuple[object, ...], str, str,
                   "str | None"], object]
_Shape = tuple[tuple[str, ...], tuple[str, ...], bool, bool]
# A compiled shape: the Python build, and the native renderer's pieces (None: no native
# plan) and slots (where each value comes from).
_Plan = tuple[_Build, "tuple[bytes, ...] | None", tuple["str | int", ...]]
_SOURCE: Final = Path(__file__).with_name("_native.c")


def load_native(source: Path = _SOURCE) -> ModuleType | None:
    """The C renderer (`bastion.log._native`), if it was built from `source` as it is now.

    A stale build, or `BASTION_NATIVE=0`, leaves it out (see `bastion._cext`): the lines
    stay right, only slower.
    """
    return load("bastion.log._native", source)


_NATIVE: Final = load_native()
#: The renderer of native plans; None makes every line take the msgspec path.
_render: Final[Callable[..., str | None]] = (
    _NATIVE.render if _NATIVE is not None else lambda *_: None)


class CompiledJSON:
    """Render lines of known shapes for one Logger's JSON output (see the module)."""

    __slots__ = ("_builds", "_encode", "_format", "_levels", "_limit", "_max_keys",
                 "_span_ids", "_time", "fixed_line")

    def __init__(
        self,
        fmt: JSONFormat,
        *,
        max_keys: int,
    ) -> None:
        self._format = fmt
        self._encode = fmt.encoder
        self._limit = fmt.max_size
        self._max_keys = max_keys
        self._span_ids: tuple[object, str, str] = (None, "", "")
        # The two parts every line begins with, read directly: one call less per line.
        self._time = fmt.time_text
        self._levels = fmt.level_names
        self._builds: dict[_Shape, _Plan | None] = {}
        #: `_fixed_line`, in C when the module is built: the shape lookup, the span's ids
        #: and the render in one call, `_fixed_line` for whatever it declines.
        self.fixed_line: Callable[[float, int, str, Mapping[str, object], tuple[str, ...],
                                   tuple[object, ...], otel_trace.SpanContext | None,
                                   str | None], str | None] = (
            self._fixed_line if _NATIVE is None
            else _NATIVE.Lines(self._builds, self._levels, self._limit, self._fixed_line).line)

    def line(
        self,
        t: float,
        rank: int,
        msg: object,
        fields: Mapping[str, object],
        kv: Mapping[str, object],
        span: otel_trace.SpanContext | None,
        service: str | None,
    ) -> str | None:
        """The line, or None when it needs the general path.

        `service` is the Logger's `service.name` for lines that do not set one.
        """
        if type(msg) is not str or not flat_values(kv) or not flat_values(fields):
            return None
        return self.trusted_line(t, rank, msg, fields, kv, span, service)

    def trusted_line(
        self,
        t: float,
        rank: int,
        msg: str,
        fields: Mapping[str, object],
        kv: Mapping[str, object],
        span: otel_trace.SpanContext | None,
        service: str | None,
    ) -> str | None:
        """`line` for a caller who knows `msg` is a `str` and no value of `fields` or `kv`
        is a container (a `State.flat` context, its own values)."""
        return self.fixed_line(t, rank, msg, fields, tuple(kv), tuple(kv.values()), span,
                               service)

    def _fixed_line(
        self,
        t: float,
        rank: int,
        msg: str,
        fields: Mapping[str, object],
        keys: tuple[str, ...],
        values: tuple[object, ...],
        span: otel_trace.SpanContext | None,
        service: str | None,
    ) -> str | None:
        """`trusted_line` with the line's own pairs as a tuple of distinct keys and one of
        their values: a caller whose lines have a few fixed shapes (the request observer)
        keeps the key tuples and builds no dict per line."""
        shape = (tuple(fields), keys, span is not None, service is not None)
        try:
            plan = self._builds[shape]
        except KeyError:
            plan = self._compile(shape)
        if plan is None:
            return None
        if span is None:
            trace_id = span_id = ""
        else:
            # The two lines of a request share its span: its ids are formatted once.
            cached = self._span_ids
            if cached[0] is not span:
                cached = self._span_ids = span_ids(span)
            trace_id, span_id = cached[1], cached[2]
        build, pieces, slots = plan
        if pieces is not None:
            line = _render(pieces, slots, t, self._levels[rank], msg, fields, values,
                           trace_id, span_id, service, self._limit)
            if line is not None:
                return line
        try:
            data = self._encode(build(self._time(t), self._levels[rank], msg, fields, values,
                                      trace_id, span_id, service))
        except Exception:  # e.g. lone surrogates: the general path escapes them
            return None
        if len(data) > self._limit:
            return None
        return data.decode() + "\n"

    def _compile(self, shape: _Shape) -> _Plan | None:
        context, own, has_span, has_service = shape
        # Where each output key's value comes from, as the general path decides it: the
        # line's own fields win over the context's, standard keys go in standard order
        # (the ids and service.name among them), the others keep their first position.
        # A source is a context key (str) or an index into the line's own values (int).
        sources: dict[str, str | int] = {}
        for key in context:
            sources[key] = key
        for index, key in enumerate(own):
            sources[key] = index
        standard = {key: src for key, src in sources.items() if key in _STANDARD}
        plan: _Plan | None = None
        if "err" not in standard:
            if has_span:
                standard["trace_id"], standard["span_id"] = _TRACE, _SPAN
            if has_service and "service.name" not in standard:
                standard["service.name"] = _SERVICE
            pairs: list[tuple[str, str | int]] = [
                (key, standard[key]) for key in STANDARD_KEYS if key in standard]
            for key, src in sources.items():
                if key not in _STANDARD:
                    pairs.append(("fields." + key if key in RESERVED_KEYS else key, src))
            time_key, level_key, msg_key = self._format.line_keys_in_order
            # Dropped keys are counted, a field named `time` overwrites it: general path.
            if len(pairs) <= self._max_keys and not any(
                    k in (time_key, level_key, msg_key) for k, _ in pairs):
                plan = _plan([(time_key, _TIME), (level_key, _LEVEL), (msg_key, _MSG), *pairs])
        if len(self._builds) >= _MAX_SHAPES:
            self._builds.clear()
        self._builds[shape] = plan
        return plan


_STANDARD: Final = frozenset(STANDARD_KEYS)
# The sources of a line's parts, as the native renderer numbers them (its SLOT_ values),
# and the build function's parameter for each.
_TIME, _LEVEL, _MSG, _TRACE, _SPAN, _SERVICE = -1, -2, -3, -4, -5, -6
_PARTS: Final = {_TIME: "time", _LEVEL: "level", _MSG: "msg", _TRACE: "tid", _SPAN: "sid",
                 _SERVICE: "svc"}
#: What a JSON key escapes: such a key cannot name a struct field.
_ESCAPED: Final = re.compile(r'["\\\x00-\x1f]')


def _plan(pairs: list[tuple[str, str | int]]) -> _Plan:
    """What renders a line of one shape, from where each key's value comes from.

    The native plan (see `bastion.log._native`) is the line's keys, encoded once, as the
    pieces between its values, and where each value comes from: a context key, an index
    of the line's own values, or one of the line's parts (time, level, ...). The Python
    build makes an instance of a struct type made for the shape, whose fields encode as the
    line's keys in order: msgspec writes a struct's keys from bytes it encoded once, and
    makes the instance in C, where a dict would be built and its keys encoded per line
    (half the instructions of a line). Two pairs can write one key (a context key `time`
    written `fields.time` beside a line's own `fields.time`); such a shape takes a dict,
    whose display keeps the key once, at its first place, with the last value, as the
    general path does; so does a shape with a key that needs escaping (a quote, a backslash,
    a control character), which msgspec does not take as a struct field's name. Neither has
    a native plan: its pieces would not be the line msgspec writes.
    """
    keys = [key for key, _ in pairs]
    codes = [_code(src) for _, src in pairs]
    namespace: dict[str, object] = {}
    pieces: tuple[bytes, ...] | None = None
    if len(set(keys)) == len(keys) and not any(map(_ESCAPED.search, keys)):
        # Instances hold only the line's flat values and live for one encode: no cycle
        # can run through them, so the cycle collector need not track them.
        namespace["Line"] = msgspec.defstruct(
            "Line", [(f"f{i}", object) for i in range(len(keys))],
            rename={f"f{i}": key for i, key in enumerate(keys)}, gc=False)
        body = f"Line({', '.join(codes)})"
        if _NATIVE is not None and all(key.isascii() for key in keys):  # ASCII pieces
            encoded = [msgspec.json.encode(key) + b":" for key in keys]
            pieces = (b"{" + encoded[0], *(b"," + key for key in encoded[1:]), b"}")
    else:
        body = "{" + ", ".join(f"{key!r}: {code}" for key, code in
                               zip(keys, codes, strict=True)) + "}"
    # Keys reach the source only through repr() or the struct's names: any string is safe.
    source = f"def build(time, level, msg, f, v, tid, sid, svc):\n    return {body}\n"
    exec(compile(source, "<bastion.log compiled line>", "exec"), namespace)
    return cast("_Build", namespace["build"]), pieces, tuple(src for _, src in pairs)


def _code(src: str | int) -> str:
    """The build function's expression for a value's source."""
    if isinstance(src, str):
        return f"f[{src!r}]"
    return f"v[{src}]" if src >= 0 else _PARTS[src]
