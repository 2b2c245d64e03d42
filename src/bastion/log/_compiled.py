"""JSON lines rendered by code made once per line shape.

A service writes lines of a few shapes over and over: the request log's `start` and `end`
lines, each with the request's context fields (`request_id`, then `service`, `method`),
the trace ids and `service.name`. The general path merges, classifies and orders every
pair of every line. Here the shape of a line — the keys of its context, the keys of its
own fields, whether it has a span and a `service.name` — decides once which key goes
where, and that decision becomes a small function (one dict display, keys in their final
order) that each later line of the shape calls: the per-line work is one call, one
encode.

The output is byte for byte what the general path writes (a property test holds them to
that). A line takes the general path instead when:

- the Logger has more than one output, renames keys, or adds `file` or key functions
  (then it has no CompiledJSON at all);
- the line has an `err`, or a message that is not a `str`;
- a value is a container (the general path caps its items), or the line is longer than
  the value limit (the general path cuts each value), or it has more than `max_keys` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, cast

from opentelemetry import trace as otel_trace

from bastion.log._format import RESERVED_KEYS, STANDARD_KEYS, JSONFormat
from bastion.log._state import flat_values, span_ids

__all__ = ["CompiledJSON"]

#: Shapes remembered at most; past it the table starts again (a service has a handful).
_MAX_SHAPES: Final = 512

# What a shape compiles to: the line's dict from (time text, level name, message, context
# fields, own fields, trace id, span id, service name), or None when its pairs exceed
# max_keys and the general path must count what it drops.
_Build = Callable[[str, str, str, Mapping[str, object], Mapping[str, object], str, str,
                   "str | None"], dict[str, object]]
_Shape = tuple[tuple[str, ...], tuple[str, ...], bool, bool]


class CompiledJSON:
    """Render lines of known shapes for one Logger's JSON output (see the module)."""

    __slots__ = ("_builds", "_encode", "_format", "_levels", "_limit", "_max_keys",
                 "_span_ids", "_time")

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
        self._builds: dict[_Shape, _Build | None] = {}

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
        shape = (tuple(fields), tuple(kv), span is not None, service is not None)
        try:
            build = self._builds[shape]
        except KeyError:
            build = self._compile(shape)
        if build is None:
            return None
        if span is None:
            trace_id = span_id = ""
        else:
            # The two lines of a request share its span: its ids are formatted once.
            cached = self._span_ids
            if cached[0] is not span:
                cached = self._span_ids = span_ids(span)
            trace_id, span_id = cached[1], cached[2]
        try:
            data = self._encode(build(self._time(t), self._levels[rank], msg, fields, kv,
                                      trace_id, span_id, service))
        except Exception:  # e.g. lone surrogates: the general path escapes them
            return None
        if len(data) > self._limit:
            return None
        return data.decode() + "\n"

    def _compile(self, shape: _Shape) -> _Build | None:
        context, own, has_span, has_service = shape
        # Where each output key's value comes from, as the general path decides it: the
        # line's own fields win over the context's, standard keys go in standard order
        # (the ids and service.name among them), the others keep their first position.
        sources: dict[str, str] = {}
        for key in context:
            sources[key] = f"f[{key!r}]"
        for key in own:
            sources[key] = f"kv[{key!r}]"
        standard = {key: code for key, code in sources.items() if key in _STANDARD}
        if "err" in standard:
            build: _Build | None = None
        else:
            if has_span:
                standard["trace_id"], standard["span_id"] = "tid", "sid"
            if has_service and "service.name" not in standard:
                standard["service.name"] = "svc"
            pairs: list[tuple[str, str]] = [
                (key, standard[key]) for key in STANDARD_KEYS if key in standard]
            for key, code in sources.items():
                if key not in _STANDARD:
                    pairs.append(("fields." + key if key in RESERVED_KEYS else key, code))
            time_key, level_key, msg_key = self._format.line_keys_in_order
            if len(pairs) > self._max_keys or any(k in (time_key, level_key, msg_key)
                                                  for k, _ in pairs):
                build = None  # dropped keys are counted, a field named `time` overwrites it
            else:
                items = [f"{time_key!r}: time", f"{level_key!r}: level", f"{msg_key!r}: msg"]
                items += [f"{key!r}: {code}" for key, code in pairs]
                source = ("def build(time, level, msg, f, kv, tid, sid, svc):\n"
                          f"    return {{{', '.join(items)}}}\n")
                namespace: dict[str, object] = {}
                # Keys reach the source only through repr(): any string is a safe literal.
                exec(compile(source, "<bastion.log compiled line>", "exec"), namespace)
                build = cast("_Build", namespace["build"])
        if len(self._builds) >= _MAX_SHAPES:
            self._builds.clear()
        self._builds[shape] = build
        return build


_STANDARD: Final = frozenset(STANDARD_KEYS)
