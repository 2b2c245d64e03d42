"""What the context logger keeps per context: one ContextVar holding an immutable state.

A state is never changed once set (copy-on-write), so asyncio tasks and threads that
inherit it cannot change each other's fields. The one mutable part is a request's `Held`
lines, which belong to that request alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

import msgspec
from opentelemetry import trace as otel_trace

from bastion.log._format import CONTAINERS

if TYPE_CHECKING:
    from bastion.log._logger import Logger

__all__ = ["EMPTY", "STATE", "Call", "Held", "State", "flat_values", "span_context",
           "span_ids"]

#: One log call: time, level rank, message, err, context fields, call fields, span context,
#: and the pairs the Logger adds (`file`, key functions), or None.
Call = tuple[
    float,
    int,
    object,
    object,
    Mapping[str, object],
    Mapping[str, object],
    "otel_trace.SpanContext | None",
    "list[tuple[str, object]] | None",
]


class Held:
    """The lines a request holds back until it logs an error, flushes, or ends.

    Lines up to level rank `up_to` (info, or warn as Clue does) are held.
    """

    __slots__ = ("entries", "flushed", "overflow", "up_to")

    def __init__(self, up_to: int) -> None:
        self.entries: list[Call] = []
        self.up_to = up_to
        self.flushed = False  # an error was logged or log.flush() called: lines go straight out
        self.overflow = 0  # lines not kept because the request held too many


class State(msgspec.Struct, eq=False):
    """What a context knows: its Logger, its fields, its request's held lines, its debug flag.

    `flat` says no field value is a container (a list, dict, tuple or set), which lets a
    line skip the general path's caps without looking at the values again: whoever makes
    a state from another knows it from what it adds (`flat_values`).

    A struct, made in C: a request makes two (its scope, and its call's `service` and
    `method`), and a class's `__init__` would cost a Python frame each. Compared and
    hashed by identity, like any object; its text names no field's value.
    """

    logger: Logger | None
    fields: Mapping[str, object]
    buffer: Held | None
    debug: bool
    flat: bool

    def __repr__(self) -> str:
        return f"<bastion.log State: {len(self.fields)} fields, debug={self.debug}>"


def flat_values(fields: Mapping[str, object]) -> bool:
    """Whether no value of `fields` is a container (what `State.flat` records)."""
    return CONTAINERS.isdisjoint(map(type, fields.values()))


_NO_FIELDS: Final[Mapping[str, object]] = {}
#: The state of a context nothing has bound anything in.
EMPTY: Final = State(None, _NO_FIELDS, None, False, True)
#: The current context's state; module functions read it, scopes set and reset it.
STATE: Final[ContextVar[State]] = ContextVar("bastion.log.state", default=EMPTY)


def span_context() -> otel_trace.SpanContext | None:
    """Return the current OpenTelemetry span's context, or None outside a valid span."""
    context = otel_trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def span_ids(span: otel_trace.SpanContext) -> tuple[otel_trace.SpanContext, str, str]:
    """`span` with its trace and span ids as lines write them (hex, zero-padded).

    The tuple is what the line renderers cache: the lines of a request share its span, so
    they format its ids once. `%` formats an int in a third of an f-string spec's time.
    """
    return span, "%032x" % span.trace_id, "%016x" % span.span_id  # noqa: UP031
