"""Server-sent events: a server stream with `ServerSentEvents()` as `text/event-stream`.

Each result the method yields is checked against the design and written as one event,
its fields as Goa maps them (`bastion.dsl.ServerSentEvents`): `id`, `event` and `retry`
from the attributes the design names (left out when empty or zero), then `data` — the
attribute `SSEEventData` names, or the whole result — written as is for a string or a
number and as JSON otherwise, one `data:` line per line of it. `SSERequestID` reads a
payload attribute from the `Last-Event-ID` header a reconnecting client sends.

The stream is an ordinary HTTP response, inside the App's middleware: the request log,
the server span (an event per message) and the HTTP metrics see it like any request,
and the `bastion.stream.*` metrics count its messages and bytes. What differs:

- the head (`200`, `text/event-stream`, `cache-control: no-cache`) is sent with the
  first event, or the first heartbeat if none comes sooner, as Goa's server sends it at
  the first `Send`: a refusal, or an error the method raises before it sends anything,
  is the usual HTTP answer;
- a comment line (`: heartbeat`) every `SSE_HEARTBEAT` of silence keeps proxies from
  closing the connection and finds clients that left;
- `WRITE_TIMEOUT` bounds each write rather than the whole response: a client that
  stops reading is cut when one write has waited that long (Bastion's server);
- the client leaving stops the method; the server's drain ends every stream cleanly, so
  that clients reconnect (to another instance) with their `Last-Event-ID`;
- an error after the head cannot change the status: the stream is cut without its end
  (the client sees a broken stream, not a finished one) and the error logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any, Final

import msgspec
from opentelemetry import trace

from bastion.dsl._streams import SSEExpr
from bastion.endpoint import streams
from bastion.errors import ClientDisconnected, ServiceError
from bastion.http.decoder import Decoder
from bastion.http.errors import HTTPError, note_error
from bastion.http.streams import Answer, Live, Streams
from bastion.operations import Operation, ResultMismatch
from bastion.schema.formats import enc_hook
from bastion.security.principal import set_client_address
from bastion.security.ratelimit import rate_limit_decision
from bastion.types import ErrorNote, Receive, Scope, Send

__all__ = ["EventFormat", "SSEHandler"]

HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
]
HEARTBEAT: Final = b": heartbeat\n\n"
_LINES: Final = re.compile(r"\r\n|\r|\n")
_ONE_LINE: Final = re.compile(r"[\r\n\x00]")


class EventFormat:
    """Results as events, the fields to read chosen once from the design."""

    def __init__(self, operation: Operation, sse: SSEExpr) -> None:
        result = operation.expr.result
        obj = result.object if result is not None else None

        def field(name: str | None) -> str | None:
            if name is None or obj is None:
                return None
            return obj.attributes[name].field_name

        self.data = field(sse.data)
        self.id = field(sse.id)
        self.event = field(sse.event)
        self.retry = field(sse.retry)
        self.encode = msgspec.json.Encoder(enc_hook=enc_hook).encode
        self.qualified = operation.expr.qualified

    def __call__(self, value: Any) -> bytes:
        """The event of one result (already checked against the design)."""
        out: list[str] = []
        for name, key in (("id", self.id), ("event", self.event)):
            if key is None:
                continue
            text = getattr(value, key, None)
            if text:
                if _ONE_LINE.search(text):
                    raise ResultMismatch(f"{self.qualified}: the SSE {name} field must be one "
                                         f"line, and {text!r} is not")
                out.append(f"{name}: {text}\n")
        if self.retry is not None:
            retry = getattr(value, self.retry, None)
            if retry is not None and retry > 0:
                out.append(f"retry: {retry}\n")
        data = getattr(value, self.data, None) if self.data is not None else value
        for line in _LINES.split(self._text(data)):
            out.append(f"data: {line}\n")
        out.append("\n")
        return "".join(out).encode("utf-8")

    def _text(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, bool):
            return "true" if data else "false"
        if isinstance(data, int | float):
            return repr(data)
        if isinstance(data, bytes):
            return data.decode("utf-8", "replace")
        return self.encode(data).decode("utf-8")


class SSEHandler:
    """The handler of one server stream's route served as events, compiled at startup."""

    def __init__(self, operation: Operation, template: str, decoder: Decoder | None,
                 answer: Answer, shared: Streams, client_of: Callable[[Scope], str],
                 sse: SSEExpr) -> None:
        self.op = operation
        self.template = template
        self.decoder = decoder
        self.answer = answer
        self.shared = shared
        self.client_of = client_of
        self.format = EventFormat(operation, sse)
        self.count = shared.counter(template, "sse", "sent")

    async def __call__(self, scope: Scope, receive: Receive, send: Send,
                       params: dict[str, str]) -> None:
        """Serve one event stream, from the request to the end of the stream."""
        scope["bastion.route"] = self.template
        op = self.op
        if self.shared.draining:  # a kept-alive connection asking after SIGTERM
            await self._refuse(scope, send, HTTPError(
                503, "unavailable", "the server is shutting down; retry", temporary=True))
            return
        if op.secured:
            set_client_address(self.client_of(scope) or None)
            rate_limit_decision.set(None)
        try:
            payload = await self.decoder(scope, receive, params) \
                if self.decoder is not None else None
        except HTTPError as exc:
            await self._refuse(scope, send, exc)
            return
        exchange = (scope.get("extensions") or {}).get("bastion.exchange")
        per_write = getattr(exchange, "stream_writes", None)
        lock = asyncio.Lock()
        ready = started = False  # the chain let the call through; the head is sent
        span = trace.get_current_span()
        recording = span.is_recording()
        sent = 0
        fmt = self.format
        convert = op.convert_result
        count = self.count

        async def write(data: bytes) -> None:
            async with lock:
                if per_write is not None:
                    per_write(True)
                await send({"type": "http.response.body", "body": data, "more_body": True})
                if per_write is not None:
                    per_write(False)

        async def start() -> None:
            # As Goa's: the head goes with the first event (or heartbeat), so that an
            # error the method raises before it sends anything is an HTTP answer.
            nonlocal ready
            ready = True
            if per_write is not None:
                per_write(False)  # a stream waiting for its first event is not late

        async def head() -> None:
            nonlocal started
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": list(HEADERS)})

        async def send_event(item: Any) -> None:
            nonlocal sent
            data = fmt(convert(item))
            if not started:
                await head()
            await write(data)
            sent += 1
            count(len(data))
            if recording:
                span.add_event("message", {"message.type": "SENT", "message.id": sent,
                                           "message.uncompressed_size": len(data)})

        io = streams.StreamIO(None, send_event, start)
        token = streams.use(io)
        try:
            task = asyncio.get_running_loop().create_task(_call(op, payload))
        finally:
            streams.reset(token)
        live = Live()
        live.task = task
        shared = self.shared
        shared.live.add(live)
        shared.opened(self.template, "sse", 1)
        watcher = asyncio.get_running_loop().create_task(_watch(receive, live))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=shared.heartbeat)
                if done:
                    break
                if ready:
                    try:
                        if not started:
                            await head()
                        await write(HEARTBEAT)
                    except ClientDisconnected:
                        live.end("client")
        except asyncio.CancelledError:
            task.cancel()  # the server cut the stream (a stalled reader, its drain)
            raise
        finally:
            watcher.cancel()
            shared.live.discard(live)
            shared.opened(self.template, "sse", -1)
            count.flush()
        if recording:
            span.set_attribute("bastion.stream.messages", sent)
        if ready and not started and not task.cancelled() and task.exception() is None:
            await head()  # the method sent nothing: an empty stream, still a stream
            started = True
        await self._conclude(scope, send, task, live, started)

    async def _conclude(self, scope: Scope, send: Send, task: asyncio.Task[Any], live: Live,
                        started: bool) -> None:
        if task.cancelled():
            if live.reason == "client":
                return
            if started:
                # The drain: a clean end, so that the client reconnects elsewhere.
                await _finish(send)
            else:
                await self._refuse(scope, send, HTTPError(
                    503, "unavailable", "the server is shutting down; retry", temporary=True))
            return
        exc = task.exception()
        if exc is None:
            if started:
                await _finish(send)
            else:
                await self._refuse(scope, send, RuntimeError(
                    f"{self.op.qualified}: the event stream was never started"))
            return
        if not started:
            await self._refuse(scope, send, exc)
            return
        if isinstance(exc, ClientDisconnected):
            return
        # Too late for a status: note the error, and leave the stream unfinished.
        if isinstance(exc, ServiceError) and self.op.error_name(exc) in self.op.errors:
            note_error(scope, ErrorNote(self.op.error_name(exc) or "error", exc.id, exc))
            return
        _status, _headers, _body, name, error_id = self.answer.internal(scope, exc)
        note_error(scope, ErrorNote(name, error_id, exc))

    async def _refuse(self, scope: Scope, send: Send, exc: BaseException) -> None:
        status, headers, body, name, error_id = self.answer(scope, exc)
        note_error(scope, ErrorNote(name, error_id, exc if not isinstance(exc, HTTPError)
                                    else None))
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _finish(send: Send) -> None:
    with contextlib.suppress(ClientDisconnected):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch(receive: Receive, live: Live) -> None:
    # After the (empty) request body, the next message is the client leaving.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            live.end("client")
            return


async def _call(op: Operation, payload: Any) -> Any:
    # A coroutine of our own: the method runs in a task the transport can cancel.
    return await op.call(payload)
