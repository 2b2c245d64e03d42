"""What an App's HTTP streams share: the drain, the stream metrics, refusals before a stream.

The two ways a streaming method is served over HTTP — a WebSocket
(`bastion.http.websocket`) and server-sent events (`bastion.http.sse`) — take from here
the App's `Streams` (its logger and telemetry, the `bastion.stream.*` counters, the open
streams the drain ends, the heartbeat interval), each stream's `Live` handle, and
`Answer`, which renders a refusal before a stream opened as the muxer renders any.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final

from bastion import log
from bastion._asgi import TEMPORARY_STATUSES
from bastion._ids import new_id
from bastion.errors import ServiceError
from bastion.http.errorenc import ErrorEncoder
from bastion.http.errors import JSON_HEADERS, HTTPError, error_body, internal_error
from bastion.operations import InvalidPayload, ResultMismatch
from bastion.redact import Redactor
from bastion.types import Scope

__all__ = ["Answer", "InternalHook", "Live", "SecurityMapper", "Streams", "Tally"]

#: (scope, exception, error id) for every internal error: the App's logger.
InternalHook = Callable[[Scope, BaseException, str], None]
#: The security layer's refusals as (status, name, message, headers), or None.
SecurityMapper = Callable[[BaseException], tuple[int, str, str, list[tuple[bytes, bytes]]] | None]


class Live:
    """One open stream, as the App's drain sees it."""

    __slots__ = ("reason", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None  # the method's task
        self.reason = ""

    def end(self, reason: str) -> None:
        """Stop the method (the transport then ends the stream its own way)."""
        if not self.reason:
            self.reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()


class Streams:
    """What an App's HTTP streams share: observability, the heartbeat and the drain.

    Made once by the App; the muxer gives it to each stream route's handler.
    """

    def __init__(self, *, logger: log.Logger, telemetry: Any = None, lines: bool = True,
                 heartbeat: float = 15.0) -> None:
        self.logger = logger
        self.telemetry = telemetry  # bastion.otel Telemetry, or None: no spans nor metrics
        self.lines = lines
        #: Seconds between two comment lines on an idle event stream (SSE_HEARTBEAT).
        self.heartbeat = heartbeat
        self.live: set[Live] = set()
        self.draining = False
        self._messages = self._bytes = self._open = None
        if telemetry is not None:
            meter = telemetry.meter
            self._messages = meter.create_counter(
                "bastion.stream.messages", unit="{message}",
                description="Messages of HTTP streams (WebSocket, server-sent events), by "
                "route, transport and direction.")
            self._bytes = meter.create_counter(
                "bastion.stream.bytes", unit="By",
                description="Payload bytes of HTTP stream messages, by route, transport and "
                "direction.")
            self._open = meter.create_up_down_counter(
                "bastion.stream.active", unit="{stream}",
                description="HTTP streams open now, by route and transport.")

    def counter(self, route: str, transport: str, direction: str) -> Tally:
        """The tally of one route's messages one way (made once per route, at startup)."""
        attrs = {"http.route": route, "bastion.stream.transport": transport,
                 "bastion.stream.direction": direction}
        return Tally(self._messages, self._bytes, attrs)

    def opened(self, route: str, transport: str, delta: int) -> None:
        """Count a stream opening (+1) or closing (-1)."""
        if self._open is not None:
            self._open.add(delta, {"http.route": route, "bastion.stream.transport": transport})

    def begin_shutdown(self) -> None:
        """End every open stream: the server is draining (clients reconnect elsewhere)."""
        self.draining = True
        for live in list(self.live):
            live.end("shutdown")


class Tally:
    """Messages and bytes of one route one way, added to the counters in batches.

    An SDK measurement costs microseconds; a message is counted here in a few additions
    and the counters get the sum every 64 messages, every second of a busy stream, and
    when a stream ends.
    """

    __slots__ = ("_at", "_attrs", "_bytes", "_count", "_messages", "_size")

    def __init__(self, messages: Any, sizes: Any, attrs: dict[str, str]) -> None:
        self._messages, self._bytes, self._attrs = messages, sizes, attrs
        self._count = self._size = 0
        self._at = time.monotonic()

    def __call__(self, size: int) -> None:
        """Count one message of `size` bytes."""
        self._count += 1
        self._size += size
        if self._count >= _BATCH or time.monotonic() - self._at >= 1.0:
            self.flush()

    def flush(self) -> None:
        """Add what was counted to the counters."""
        if self._count and self._messages is not None:
            self._messages.add(self._count, self._attrs)
            self._bytes.add(self._size, self._attrs)
        self._count = self._size = 0
        self._at = time.monotonic()


_BATCH: Final = 64


class Answer:
    """How a refusal before a stream opened is answered over HTTP, as the muxer answers."""

    def __init__(self, errors: ErrorEncoder, map_security: SecurityMapper, redactor: Redactor,
                 on_internal: InternalHook) -> None:
        self.errors = errors
        self.map_security = map_security
        self.redactor = redactor
        self.on_internal = on_internal

    def __call__(self, scope: Scope, exc: BaseException
                 ) -> tuple[int, list[tuple[bytes, bytes]], bytes, str, str]:
        """(status, headers, body, error name, error id) for `exc`."""
        if isinstance(exc, HTTPError):
            return exc.status, [*JSON_HEADERS, *exc.headers], exc.body(self.redactor), \
                exc.name, exc.id
        if isinstance(exc, ServiceError):
            try:
                answer = self.errors(exc)
            except ResultMismatch as mismatch:
                return self.internal(scope, mismatch)
            if answer is None:
                return self.internal(scope, exc)
            name, (status, headers, body) = answer
            return status, list(headers), body, name, exc.id
        if isinstance(exc, InvalidPayload):
            err = HTTPError(400, "invalid_payload", f"invalid payload: {exc}", errors=exc.errors)
            return err.status, list(JSON_HEADERS), err.body(self.redactor), err.name, err.id
        mapped = self.map_security(exc)
        if mapped is None:
            return self.internal(scope, exc)
        status, name, message, extra = mapped
        error_id = new_id()
        body = error_body(name, error_id, message, temporary=status in TEMPORARY_STATUSES,
                          fault=status >= 500)
        return status, [*JSON_HEADERS, *extra], body, name, error_id

    def internal(self, scope: Scope, exc: BaseException
                 ) -> tuple[int, list[tuple[bytes, bytes]], bytes, str, str]:
        """A bug: logged with a new id, answered 500 with that id only."""
        error_id = new_id()
        scope["bastion.exception"] = exc
        self.on_internal(scope, exc, error_id)
        return 500, list(JSON_HEADERS), internal_error(error_id), "internal", error_id
