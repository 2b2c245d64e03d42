"""WebSocket streams: a design's streaming methods served as WebSockets, as Goa serves them.

A method with `StreamingPayload(T)` and/or `StreamingResult(T)` and a `GET` route is a
WebSocket endpoint (`ServerSentEvents()` makes a server stream an event stream instead:
`bastion.http.sse`; what both share is `bastion.http.streams`). The wire is Goa's: each
message is one JSON text frame (binary frames holding JSON are read too), the client
ends its stream with the message `null`, the server ends the session with a close
frame, 1000.

One session, from the upgrade to the close:

1. the payload is decoded from the upgrade request (path, query, headers, as for any
   GET) and the endpoint chain runs — the same one unary calls run, so the design's
   security checks the credentials of the upgrade request, once;
2. when the chain lets the call through, the upgrade is accepted (`101`) and the method
   runs; a refusal before that is an ordinary HTTP answer (`401` with
   `WWW-Authenticate`, `403`, `400` naming the bad parameters, a design error's status);
3. each message the client sends is decoded and validated against the design's type
   before the method sees it; each the method yields is checked and sent;
4. the close says why the session ended: 1000 (done), 1007 (a message that is not valid
   JSON or not valid against its type; the reason names every bad field), 1008 (a
   design error, or a message on a stream that reads none), 1011 (a bug, with the id of
   its log line), 1013 (a temporary design error); the server adds 1009 (a message over
   `WS_MAX_MESSAGE_BYTES`), 1011 (no pong), 1001 (idle, or the server shutting down).

Each session has one SERVER span with an event per message, `start` and `end` log lines,
and the `bastion.stream.*` metrics (messages, bytes, open streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from opentelemetry.context import attach, detach, get_current, set_value
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from bastion import log
from bastion._ids import is_valid_request_id, new_id
from bastion.endpoint import lifetime as lifetimes
from bastion.endpoint import streams
from bastion.errors import ClientDisconnected, ServiceError
from bastion.http.decoder import Decoder
from bastion.http.errors import (
    JSON_HEADERS,
    HTTPError,
    _field_json,
    error_body,
    note_error,
)
from bastion.http.streams import Answer, Live, Streams
from bastion.operations import InvalidPayload, Operation, ResultMismatch
from bastion.redact import Redactor
from bastion.schema.formats import enc_hook
from bastion.security.principal import set_client_address
from bastion.security.ratelimit import rate_limit_decision
from bastion.types import ErrorNote, Receive, Scope, Send

__all__ = ["BadMessage", "WebSocketHandler", "close_reason", "invalid_reason"]

#: Close codes (RFC 6455 §7.4.1) a session ends with, by why.
NORMAL, INVALID_DATA, POLICY, INTERNAL, TRY_AGAIN = 1000, 1007, 1008, 1011, 1013
_MAX_REASON: Final = 123  # bytes a close frame's reason may hold
_UPGRADE_HEADERS: Final = [*JSON_HEADERS, (b"upgrade", b"websocket"), (b"connection", b"Upgrade")]


class BadMessage(Exception):
    """A message of the client's stream that is not JSON: the session closes with 1007."""


def close_reason(text: str) -> str:
    """`text` cut to what a close frame carries (123 bytes of UTF-8), marked when cut."""
    data = text.encode("utf-8")
    if len(data) <= _MAX_REASON:
        return text
    return data[: _MAX_REASON - 3].decode("utf-8", "ignore") + "..."


def invalid_reason(exc: InvalidPayload, redactor: Redactor) -> str:
    """The close reason of an invalid message: every bad field, then what is wrong.

    As in error bodies, what a sensitive field was sent as is never echoed.
    """
    fields = ", ".join(e.field or "message" for e in exc.errors)
    detail = "; ".join(_field_json(e, redactor)["message"] for e in exc.errors)
    return close_reason(f"invalid_payload: {fields}: {detail}")


class _Session:
    """One WebSocket session's state: what the handler and its tasks share."""

    __slots__ = ("accepted", "close_code", "error_id", "error_name", "gone", "inbox",
                 "live", "messages_in", "messages_out", "span")

    def __init__(self, span: Any) -> None:
        self.accepted = False
        self.gone = False  # the client closed or the connection dropped
        # Bounded: while the method does not take messages, the reader waits, the
        # server's buffer fills and it stops reading the socket (backpressure).
        self.inbox: asyncio.Queue[Any] = asyncio.Queue(_INBOX)
        self.live = Live()
        self.close_code: int | None = None
        self.error_name = self.error_id = ""
        self.messages_in = self.messages_out = 0
        self.span = span


_END: Final = object()  # the inbox's end: the client closed
_INBOX: Final = 16  # messages received and not yet taken by the method


class WebSocketHandler:
    """The handler of one streaming method's route, compiled once at startup."""

    def __init__(self, operation: Operation, template: str, decoder: Decoder | None,
                 answer: Answer, shared: Streams, client_of: Callable[[Scope], str]) -> None:
        self.op = operation
        self.template = template
        self.decoder = decoder
        self.answer = answer
        self.shared = shared
        self.client_of = client_of
        self.reads = operation.expr.streaming_payload is not None
        self.yields = operation.expr.streaming_result
        self.returns = operation.expr.stream_kind == "client"
        self.encode = msgspec.json.Encoder(enc_hook=enc_hook).encode
        self.decode = msgspec.json.Decoder().decode
        self.count_in = shared.counter(template, "websocket", "received")
        self.count_out = shared.counter(template, "websocket", "sent")
        self.names = {"http.request.method": "GET", "http.route": template,
                      "network.protocol.name": "websocket"}
        self.span_name = f"GET {template}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send,
                       params: dict[str, str]) -> None:
        """Serve the upgrade request; a plain GET is told to upgrade (426)."""
        scope["bastion.route"] = self.template
        if scope["type"] != "websocket":
            error_id = new_id()
            body = error_body("upgrade_required", error_id,
                              f"{scope['path']} is a WebSocket: send an upgrade request")
            note_error(scope, ErrorNote("upgrade_required", error_id))
            headers = [*_UPGRADE_HEADERS, (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": 426, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self._serve(scope, receive, send, params)

    async def _serve(self, scope: Scope, receive: Receive, send: Send,
                     params: dict[str, str]) -> None:
        shared = self.shared
        logger = shared.logger
        start = time.perf_counter()
        rid = carrier = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and is_valid_request_id(value):
                rid = value.decode("ascii")
            elif name in (b"traceparent", b"tracestate", b"baggage"):
                carrier = carrier or {}
                carrier[name.decode()] = value.decode("latin-1")
        rid = rid or new_id()
        client = self.client_of(scope) or ""
        telemetry = shared.telemetry
        span = token = None
        if telemetry is not None:
            parent = telemetry.propagator.extract(carrier) if carrier else get_current()
            span = telemetry.tracer.start_span(
                self.span_name, context=parent, kind=SpanKind.SERVER,
                attributes={**self.names, "url.path": scope["path"], "client.address": client})
            from bastion.otel._global import TELEMETRY_KEY

            token = attach(set_value(TELEMETRY_KEY, telemetry, set_span_in_context(span, parent)))
        context = log.RequestContext(logger, {"request_id": rid}).enter()
        if shared.lines:
            logger.write_info("start", {**self.names, "url.path": scope["path"],
                                        "client.address": client, "request_id": rid})
        session = _Session(span)
        shared.opened(self.template, "websocket", 1)
        failure: BaseException | None = None
        try:
            await self._run(session, scope, receive, send, params, rid, client)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            shared.opened(self.template, "websocket", -1)
            self._finish(session, scope, start, span, rid, client)
            if token is not None:
                detach(token)
            context.leave(failure if isinstance(failure, Exception) else None)

    async def _run(self, session: _Session, scope: Scope, receive: Receive, send: Send,
                   params: dict[str, str], rid: str, client: str) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        if self.shared.draining:  # a kept-alive connection asking after SIGTERM
            await self._deny(session, scope, send, HTTPError(
                503, "unavailable", "the server is shutting down; retry", temporary=True))
            return
        op = self.op
        try:
            payload = await self.decoder(scope, receive, params) \
                if self.decoder is not None else None
        except HTTPError as exc:
            await self._deny(session, scope, send, exc)
            return
        reader: asyncio.Task[None] | None = None

        async def accept() -> None:
            nonlocal reader
            await send({"type": "websocket.accept",
                        "headers": [(b"x-request-id", rid.encode("ascii"))]})
            session.accepted = True
            reader = asyncio.get_running_loop().create_task(self._read(session, receive, send))

        io = streams.StreamIO(
            streams.Stream(self._receiver(session)) if self.reads else None,
            self._sender(session, send) if self.yields else None,
            accept,
        )
        extension = (scope.get("extensions") or {}).get("bastion.websocket")
        life = getattr(extension, "lifetime", None)
        if op.secured:
            set_client_address(client or None)
            rate_limit_decision.set(None)
        stoken = streams.use(io)
        ltoken = lifetimes.use(life) if life is not None else None
        try:
            task = asyncio.get_running_loop().create_task(_call(op, payload))
        finally:
            if ltoken is not None:
                lifetimes.reset(ltoken)
            streams.reset(stoken)
        live = session.live
        live.task = task
        self.shared.live.add(live)
        try:
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                task.cancel()  # the server ends the session (its drain, past its timeout)
                raise
            await self._conclude(session, scope, send, task)
        finally:
            self.shared.live.discard(live)
            if reader is not None:
                reader.cancel()

    async def _conclude(self, session: _Session, scope: Scope, send: Send,
                        task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            if session.accepted and not session.gone and session.live.reason == "shutdown":
                await self._close(session, send, 1001, "server shutting down")
            return
        exc = task.exception()
        if not session.accepted:
            if exc is None:  # a middleware answered without calling the method
                exc = RuntimeError(f"{self.op.qualified}: the stream was never opened")
            await self._deny(session, scope, send, exc)
            return
        if session.gone:
            return
        if exc is None:
            if self.returns:
                try:
                    await self._send_value(session, send, task.result())
                except ResultMismatch as mismatch:
                    await self._fail(session, scope, send, mismatch)
                    return
            await self._close(session, send, NORMAL, "server closing connection")
        elif isinstance(exc, InvalidPayload):
            session.error_name = "invalid_payload"
            await self._close(session, send, INVALID_DATA,
                              invalid_reason(exc, self.answer.redactor))
        elif isinstance(exc, BadMessage):
            session.error_name = "invalid_message"
            await self._close(session, send, INVALID_DATA, close_reason(str(exc)))
        elif isinstance(exc, ClientDisconnected):
            return
        elif isinstance(exc, ServiceError):
            await self._design_error(session, scope, send, exc)
        else:
            await self._fail(session, scope, send, exc)

    async def _design_error(self, session: _Session, scope: Scope, send: Send,
                            exc: ServiceError) -> None:
        name = self.op.error_name(exc)
        spec = self.op.errors.get(name) if name is not None else None
        if spec is None or name is None:
            await self._fail(session, scope, send, exc)  # not in the design: a bug
            return
        session.error_name, session.error_id = name, exc.id
        if session.span is not None:
            session.span.record_exception(exc)
        code = INTERNAL if spec.fault else TRY_AGAIN if spec.temporary else POLICY
        await self._close(session, send, code, close_reason(f"{name}: {exc.message}"))

    async def _fail(self, session: _Session, scope: Scope, send: Send,
                    exc: BaseException) -> None:
        error_id = new_id()
        session.error_name, session.error_id = "internal", error_id
        scope["bastion.exception"] = exc
        self.answer.on_internal(scope, exc, error_id)
        if session.span is not None:
            session.span.record_exception(exc)
        await self._close(session, send, INTERNAL,
                          f"internal error; quote id {error_id} to the service's operators")

    async def _deny(self, session: _Session, scope: Scope, send: Send,
                    exc: BaseException) -> None:
        status, headers, body, name, error_id = self.answer(scope, exc)
        session.error_name, session.error_id = name, error_id
        session.close_code = None
        if session.span is not None:
            session.span.set_attribute("http.response.status_code", status)
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})

    async def _close(self, session: _Session, send: Send, code: int, reason: str) -> None:
        session.close_code = code
        with contextlib.suppress(ClientDisconnected):
            await send({"type": "websocket.close", "code": code, "reason": reason})

    # -- the two directions --------------------------------------------------------------

    async def _read(self, session: _Session, receive: Receive, send: Send) -> None:
        """Take the client's messages: to the method's stream, or refused when it reads none."""
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                session.gone = True
                if session.close_code is None:
                    session.close_code = int(message.get("code", 1005))
                session.live.end("client")  # nobody to send to any more
                if not session.inbox.full():
                    session.inbox.put_nowait(_END)
                return
            if kind != "websocket.receive":
                continue
            if not self.reads:
                await self._close(session, send, POLICY,
                                  f"{self.op.name} streams to the client and reads no messages")
                session.live.end("policy")
                return
            await session.inbox.put(message)

    def _receiver(self, session: _Session) -> Callable[[], Awaitable[Any]]:
        op = self.op
        decode = self.decode
        count = self.count_in
        names = self.names

        async def receive() -> Any:
            message = await session.inbox.get()
            if message is _END:
                return streams.END
            text = message.get("text")
            data = text if text is not None else message.get("bytes") or b""
            size = len(data)
            session.messages_in += 1
            count(size)
            if session.span is not None:
                session.span.add_event("message", {"message.type": "RECEIVED",
                                                   "message.id": session.messages_in,
                                                   "message.uncompressed_size": size})
            try:
                value = decode(data)
            except msgspec.DecodeError as exc:
                raise BadMessage(f"invalid_message: message {session.messages_in} is not "
                                 f"JSON ({exc})") from None
            if value is None:
                return streams.END  # Goa's client ends its stream with `null`
            built = op.build_message(value)
            if log.debug_enabled():
                log.debug("message received", **names, size=size)
            return built

        return receive

    def _sender(self, session: _Session, send: Send) -> Callable[[Any], Awaitable[None]]:
        async def send_item(item: Any) -> None:
            await self._send_value(session, send, item)

        return send_item

    async def _send_value(self, session: _Session, send: Send, item: Any) -> None:
        if session.gone:
            raise ClientDisconnected("the client closed the WebSocket")
        text = self.encode(self.op.convert_result(item)).decode("utf-8")
        await send({"type": "websocket.send", "text": text})
        size = len(text)
        session.messages_out += 1
        self.count_out(size)
        if session.span is not None:
            session.span.add_event("message", {"message.type": "SENT",
                                               "message.id": session.messages_out,
                                               "message.uncompressed_size": size})
        if log.debug_enabled():
            log.debug("message sent", **self.names, size=size)

    # -- the end ------------------------------------------------------------------------

    def _finish(self, session: _Session, scope: Scope, start: float, span: Any, rid: str,
                client: str) -> None:
        elapsed = time.perf_counter() - start
        self.count_in.flush()
        self.count_out.flush()
        code = session.close_code
        if self.shared.lines:
            end: dict[str, object] = {**self.names, "url.path": scope["path"],
                                      "client.address": client, "request_id": rid,
                                      "websocket.accepted": session.accepted,
                                      "websocket.close.code": code or 0,
                                      "messages.received": session.messages_in,
                                      "messages.sent": session.messages_out,
                                      "time_ms": round(elapsed * 1000, 3)}
            if session.error_name:
                end["error.type"] = session.error_name
                if session.error_id:
                    end["error.id"] = session.error_id
            self.shared.logger.write_info("end", end)
        if span is not None:
            span.set_attribute("websocket.close.code", code or 0)
            if session.accepted:
                span.set_attribute("http.response.status_code", 101)
            if session.error_name:
                span.set_attribute("error.type", session.error_name)
            if code == INTERNAL or session.error_name == "internal":
                span.set_status(Status(StatusCode.ERROR, session.error_name or "internal"))
            span.end()


async def _call(op: Operation, payload: Any) -> Any:
    # A coroutine of our own: the method runs in a task the transport can cancel.
    return await op.call(payload)
