"""WebSocket connections: the ASGI websocket interface on `websockets`' sans-I/O protocol.

A request that asks to upgrade becomes a `WebSocketSession` on the same connection.
`websockets` does the protocol (the handshake's checks, framing, masking, the size limit
of a message, ping/pong, the closing handshake); this module adds what a server owes:

- the ASGI interface: `websocket.connect`, `websocket.receive` and `websocket.disconnect`
  in, `websocket.accept`, `websocket.send` and `websocket.close` out, and the denial
  response extension (`websocket.http.response.*`) before the accept;
- backpressure: `send` waits while the socket's buffer is full, and reading pauses while
  the app has not taken the messages already received;
- keep-alive: a ping every `WS_PING_INTERVAL` of silence, and a close (1011) when no pong
  answers within another interval; `WS_IDLE_TIMEOUT` without a message either way closes
  it (1001);
- the drain: a shutdown closes every session with 1001 (going away), so clients reconnect
  elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from bastion.errors import ClientDisconnected
from bastion.types import Message

if TYPE_CHECKING:
    from bastion.endpoint.lifetime import Lifetime
    from bastion.server._http1 import Connection

__all__ = ["WebSocketSession", "is_websocket_upgrade"]

_HIGH_WATER: Final = 64  # received messages the app has not taken, before reading pauses
# Close codes: why a session ends.
GOING_AWAY, INTERNAL_ERROR, MESSAGE_TOO_BIG = 1001, 1011, 1009


def is_websocket_upgrade(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's headers ask to upgrade to WebSocket."""
    return any(name == b"upgrade" and value.lower() == b"websocket" for name, value in headers)


class WebSocketSession:
    """One WebSocket connection, from the upgrade request to the close."""

    def __init__(self, conn: Connection, scope: dict[str, Any]) -> None:
        self.conn = conn
        self.scope = scope
        self.loop = conn.loop
        limits = conn.listener.limits
        self.max_message = limits.ws_max_message_bytes
        self.ping_interval = limits.ws_ping_interval
        self.idle_timeout = limits.ws_idle_timeout
        # The subprotocol the app accepts with, read by the protocol during the handshake.
        # A list, not this session: the protocol keeps reference cycles of its own (its
        # parser generator, the selector bound to it) that only the cycle collector frees,
        # and they must not hold the session, its connection and its scope with them.
        chosen: list[Subprotocol | None] = [None]
        self._chosen = chosen
        self.protocol = ServerProtocol(
            max_size=self.max_message,
            select_subprotocol=lambda _, offered: chosen[0] if chosen[0] in offered else None,
        )
        # The protocol parses the upgrade request itself before it reads frames: give it
        # the head as it came (the parsed target and headers, in their order).
        target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"]
                                      else b"")
        self._head = b"".join([b"GET ", target, b" HTTP/1.1\r\n",
                               *(k + b": " + v + b"\r\n" for k, v in scope["headers"]),
                               b"\r\n"])
        self.protocol.receive_data(self._head)
        parsed = self.protocol.events_received()
        self.request: Request | None = parsed[0] if parsed and isinstance(parsed[0], Request) \
            else None
        self._inbox: deque[Message] = deque([{"type": "websocket.connect"}])
        self._waiter: asyncio.Future[None] | None = None
        self._early: list[bytes] = []  # bytes received before the app accepted
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self.accepted = False
        self.closed = False
        self.close_code: int | None = None
        self.status = 0
        self.task: asyncio.Task[None] | None = None
        self.lifetime: Lifetime | None = None
        self.cancel_reason = ""
        self.messages_in = self.messages_out = 0
        self.bytes_in = self.bytes_out = 0
        now = self.loop.time()
        self._last_seen = now  # any bytes from the client, pongs included
        self._last_message = now  # a message either way
        self._ping_sent_at: float | None = None
        self._denial_started = False

    def handshake_error(self) -> Response | None:
        """The answer to a malformed upgrade request, or None when it is a valid one."""
        probe = ServerProtocol()
        if self.request is None:
            return probe.reject(400, "the upgrade request cannot be parsed")
        response = probe.accept(self.request)
        return None if response.status_code == 101 else response

    # -- from the network -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feed the protocol; deliver whole messages to the app."""
        if not self.accepted:
            self._early.append(data)
            return
        self._last_seen = self.loop.time()
        self.protocol.receive_data(data)
        self._process()

    def eof_received(self) -> None:
        """The client closed its side."""
        if self.accepted:
            self.protocol.receive_eof()
            self._process()
        self._lost(1006)

    def _process(self) -> None:
        for event in self.protocol.events_received():
            if not isinstance(event, Frame):
                continue
            frame = event
            opcode = frame.opcode
            if opcode in (Opcode.TEXT, Opcode.BINARY):
                self._fragment_text = opcode is Opcode.TEXT
                self._fragments = [bytes(frame.data)]
            elif opcode is Opcode.CONT:
                self._fragments.append(bytes(frame.data))
            elif opcode is Opcode.PONG:
                self._ping_sent_at = None
                continue
            else:
                continue  # pings are answered and closes handled by the protocol
            if not frame.fin:
                continue
            data = b"".join(self._fragments)
            self._fragments = []
            self._last_message = self._last_seen
            self.messages_in += 1
            self.bytes_in += len(data)
            if self._fragment_text:
                self._inbox.append({"type": "websocket.receive", "text": data.decode("utf-8")})
            else:
                self._inbox.append({"type": "websocket.receive", "bytes": data})
        self._flush()
        if len(self._inbox) > _HIGH_WATER:
            self.conn.pause_reading()
        state = self.protocol.state
        if state is State.CLOSING or state is State.CLOSED:
            code = self.protocol.close_code
            self._lost(code if code is not None else 1005)
            if state is State.CLOSED or self.protocol.close_expected():
                self.conn.close()
        self._wake()

    def _lost(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
        if not any(m["type"] == "websocket.disconnect" for m in self._inbox):
            self._inbox.append({"type": "websocket.disconnect", "code": self.close_code,
                                "reason": self.protocol.close_reason or ""})
        self.closed = True
        self._wake()

    def connection_lost(self) -> None:
        """The connection is gone: the app's next receive is a disconnect."""
        self._lost(self.protocol.close_code or 1006)

    def release(self) -> None:
        """Let go of what points back here, once the app's call is over.

        As for an HTTP exchange (`Exchange.release`): the scope's extensions name this
        session, which holds the scope, and its task, once cancelled, holds the error
        whose frames hold the session. Cut here, a finished session is freed as soon as
        its connection is (the connection drops it when it closes).
        """
        extensions = self.scope.get("extensions")
        if extensions is not None and extensions.get("bastion.websocket") is self:
            del extensions["bastion.websocket"]
        self.task = None

    # -- the app's receive and send ---------------------------------------------------------

    async def receive(self) -> Message:
        """The next ASGI websocket event."""
        while not self._inbox:
            waiter = self._waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        message = self._inbox.popleft()
        if len(self._inbox) <= _HIGH_WATER // 2 and self.accepted:
            self.conn.resume_reading()
        return message

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def send(self, message: Message) -> None:
        """Handle one ASGI websocket message from the app."""
        kind = message["type"]
        if kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.send":
            if not self.accepted or self.closed:
                raise ClientDisconnected("the WebSocket is not open")
            text = message.get("text")
            if text is not None:
                data = text.encode("utf-8")
                self.protocol.send_text(data)
            else:
                data = message.get("bytes") or b""
                self.protocol.send_binary(data)
            self.messages_out += 1
            self.bytes_out += len(data)
            self._last_message = self.loop.time()
            self._flush()
            if self.conn.write_paused:
                await self.conn.drained_or_closed()
        elif kind == "websocket.close":
            self.close(int(message.get("code", 1000)), str(message.get("reason") or ""))
        elif kind == "websocket.http.response.start" and not self.accepted:
            self._deny_start(message)
        elif kind == "websocket.http.response.body" and self._denial_started:
            self.conn.write(message.get("body", b""))
            if not message.get("more_body", False):
                self.conn.close()
                self._lost(1000)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on a WebSocket")

    def _accept(self, message: Message) -> None:
        if self.accepted:
            raise RuntimeError("websocket.accept was sent twice")
        chosen = message.get("subprotocol")
        self._chosen[0] = Subprotocol(chosen) if chosen else None
        if self.request is None:
            raise RuntimeError("websocket.accept for a request that is not a valid upgrade")
        response = self.protocol.accept(self.request)
        for name, value in message.get("headers", ()):
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        self.protocol.send_response(response)
        self.accepted = True
        self.status = 101
        self._flush()
        early, self._early = self._early, []
        for data in early:
            self.protocol.receive_data(data)
        if early:
            self._process()

    def _deny_start(self, message: Message) -> None:
        # The denial response extension: an ordinary HTTP response instead of the upgrade.
        from bastion.server._http1 import status_line

        self._denial_started = True
        self.status = int(message["status"])
        head = [status_line(self.status)]
        for name, value in message.get("headers", ()):
            head += (name, b": ", value, b"\r\n")
        head.append(b"connection: close\r\n")
        head.append(self.conn.listener.default_headers)
        self.conn.write(b"".join(head))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with `code`; before the accept, answer 403."""
        if not self.accepted:
            if not self._denial_started and not self.closed:
                self.status = 403
                body = b'{"name":"forbidden","message":"the WebSocket was refused"}'
                from bastion.server._http1 import status_line

                self.conn.write(
                    status_line(403) + b"content-type: application/json\r\ncontent-length: "
                    + str(len(body)).encode() + b"\r\nconnection: close\r\n"
                    + self.conn.listener.default_headers + body
                )
                self.conn.close()
            self._lost(code)
            return
        if self.protocol.state is State.OPEN:
            with contextlib.suppress(InvalidState):
                self.protocol.send_close(code, reason)
            self._flush()
        if self.close_code is None:
            self.close_code = code

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.conn.write(data)
            else:
                self.conn.close()  # the protocol's signal to half-close: close the TCP side

    # -- deadlines (the listener's sweep) -----------------------------------------------------

    def expire(self, now: float) -> float:
        """Send a keep-alive ping, or close an idle or unanswered session; return the next check."""
        if self.closed or not self.accepted:
            return now + self.ping_interval
        if self._ping_sent_at is not None and now - self._ping_sent_at >= self.ping_interval:
            self.close(INTERNAL_ERROR, "keepalive ping timeout")
            self.conn.close_after(GRACE_CLOSE)
            return now + GRACE_CLOSE
        if now - self._last_message >= self.idle_timeout:
            self.close(GOING_AWAY, "idle timeout")
            self.conn.close_after(GRACE_CLOSE)
            return now + GRACE_CLOSE
        if self._ping_sent_at is None and now - self._last_seen >= self.ping_interval:
            self.protocol.send_ping(b"")
            self._ping_sent_at = now
            self._flush()
        return now + min(self.ping_interval, self.idle_timeout) / 2

    def going_away(self) -> None:
        """The server is shutting down: close with 1001 so the client reconnects elsewhere."""
        self.close(GOING_AWAY, "server shutting down")
        self.conn.close_after(GRACE_CLOSE)


#: How long a closing handshake may take before the TCP connection is closed anyway.
GRACE_CLOSE: Final = 2.0
