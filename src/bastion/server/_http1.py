"""HTTP/1.1 connections: httptools parses the bytes, this module keeps the server's promises.

One `Connection` per TCP (or TLS) connection. It serves requests one at a time, as Go's
net/http does: while a request is served, a pipelined next one waits (reading pauses), and
its deadlines start when its turn comes. Each request is an `Exchange`, whose `receive`
and `send` are the ASGI callables the app gets.

Deadlines are numbers on the connection that the listener's sweep checks (see
`bastion.server._listener`), so a request arms no timer of its own:

- a request head must be complete within `READ_HEADER_TIMEOUT` of the accept, or of the
  first byte of a later request; a keep-alive connection waits `IDLE_TIMEOUT` for one;
- a request must be read whole, body included, within `READ_TIMEOUT` of its head, whether
  or not the app reads it; an app waiting on a late body gets `RequestTimeout`;
- a response must be written whole, blocked sends included, within `WRITE_TIMEOUT` of the
  head: the app is cancelled at the deadline (it answers 503 when nothing was sent yet)
  and a connection still writing is cut.

After a response, an unread rest of the body is read and dropped if it is small (at most
`DISCARD_LIMIT` bytes, within the read deadline); otherwise the connection is closed, so a
client can never hold a connection by trickling a body nobody reads.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import unquote

import httptools

from bastion._ids import is_valid_request_id
from bastion.errors import ClientDisconnected, MalformedBody, RequestTimeout
from bastion.server._websocket import WebSocketSession, is_websocket_upgrade
from bastion.types import Message, Refusal

if TYPE_CHECKING:
    from bastion.endpoint.lifetime import Lifetime
    from bastion.server._listener import Listener

__all__ = ["DISCARD_LIMIT", "Connection", "Exchange"]

#: The most of an unread request body the server reads and drops to keep a connection.
DISCARD_LIMIT: Final = 64 * 1024
#: Requests parsed ahead on one connection, waiting for the answers before theirs.
MAX_PIPELINED: Final = 16
#: Buffered body bytes past which reading pauses until the app reads (upload backpressure).
_BODY_HIGH_WATER: Final = 256 * 1024
#: How long a cancelled app may take to answer before its connection is cut.
GRACE: Final = 1.0
#: How long past its write deadline a request that began committing may finish.
COMMIT_GRACE: Final = 5.0
#: A deadline that never comes (a streamed response between two writes).
_NEVER: Final = float("inf")

_PHRASES: Final = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
    203: "Non-Authoritative Information", 204: "No Content", 205: "Reset Content",
    206: "Partial Content", 207: "Multi-Status", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
    414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
    417: "Expectation Failed", 421: "Misdirected Request", 422: "Unprocessable Content",
    423: "Locked", 424: "Failed Dependency", 425: "Too Early", 426: "Upgrade Required",
    428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}  # fmt: skip
_STATUS_LINES: Final = {
    status: f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")
    for status, phrase in _PHRASES.items()
}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY: Final = frozenset({204, 304})
_DISCONNECT: Final[Message] = {"type": "http.disconnect"}
# CR, LF or NUL in a response header would end its line early: response splitting.
_UNSAFE_HEADER: Final = re.compile(rb"[\r\n\0]")

# What a connection waits for, which says which deadline applies.
NEW, IDLE, HEAD, ACTIVE, DISCARD, CLOSED, WEBSOCKET, CLOSING = range(8)


def status_line(status: int) -> bytes:
    """The HTTP/1.1 status line of `status`, CRLF included."""
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} Status\r\n".encode("latin-1")


class Exchange:
    """One request and its response: the ASGI `receive` and `send` of one app call.

    The app finds it as `scope["extensions"]["bastion.exchange"]`, to read what only the
    connection knows (the bytes really written, the deadlines) and the request's
    `Lifetime`. The request observer reads the response's status and body size here
    instead of wrapping `send`, and sets `request_id`: the response's head then carries
    it as `X-Request-ID`, unless the app sent one of its own.
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_chunked",
        "_continue",
        "_discard_from",
        "_final_sent",
        "_framing_broken",
        "_head_size",
        "_headers",
        "_left_to_send",
        "_no_body",
        "_waiter",
        "aborted",
        "body_bytes",
        "body_error",
        "bytes_sent",
        "cancel_reason",
        "cancelled_at",
        "complete",
        "conn",
        "head_written",
        "keep_alive",
        "lifetime",
        "message_complete",
        "read_deadline",
        "read_timed_out",
        "request_bytes",
        "request_id",
        "scope",
        "started",
        "status",
        "task",
        "write_deadline",
    )

    def __init__(
        self, conn: Connection, scope: dict[str, Any], keep_alive: bool, expect_continue: bool
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self._continue = expect_continue
        self._body: deque[bytes] = deque()
        self._body_size = 0
        self._waiter: asyncio.Future[None] | None = None
        self._final_sent = False
        self._chunked = False
        self._framing_broken = False
        self._left_to_send: int | None = None
        self._no_body = scope["method"] == "HEAD"
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._discard_from = 0
        self.message_complete = False
        #: Bytes of request body received so far, read by the app or not.
        self.request_bytes = 0
        self.started = False
        self.head_written = False
        self.complete = False
        #: True when the connection was cut before the response was whole.
        self.aborted = False
        self.status = 0
        #: Bytes of the response, head included, handed to the transport.
        self.bytes_sent = 0
        #: Bytes of response body the app handed over (the framing not counted).
        self.body_bytes = 0
        #: The request's id, echoed in the response head's `X-Request-ID` (b"": none).
        self.request_id = b""
        self.read_deadline = 0.0
        self.write_deadline = 0.0
        self.read_timed_out = False
        #: Why the request's body could not be read (broken chunked framing), or "".
        self.body_error = ""
        #: Why the server cancelled the app ("write_timeout", "shutdown"), or "".
        self.cancel_reason = ""
        self.cancelled_at = 0.0
        self.task: asyncio.Task[None] | None = None
        self.lifetime: Lifetime | None = None

    @property
    def body_bytes_written(self) -> int:
        """Bytes of the response's body the kernel accepted (its head not counted)."""
        return max(0, self.bytes_written - self._head_size)

    @property
    def bytes_written(self) -> int:
        """Bytes of the response the kernel accepted: those handed over, less those queued."""
        transport = self.conn.transport
        if transport is None or transport.is_closing():
            return self.bytes_sent if not self.aborted else self._accepted_before_abort()
        return max(0, self.bytes_sent - transport.get_write_buffer_size())

    def _accepted_before_abort(self) -> int:
        return max(0, self.bytes_sent - self.conn.unsent_at_abort)

    def release(self) -> None:
        """Let go of what points back here, once the app's call is over (or never came).

        The scope's extensions name this exchange, which holds the scope: a cycle, that
        only the cycle collector would free. A busy server would leave every request to
        it, and its oldest generation gathers thousands of finished requests between full
        collections, which a long run's heap keeps room for. Cut here, a request's
        objects go as soon as the connection moves on to the next one.
        """
        extensions = self.scope.get("extensions")
        if extensions is not None and extensions.get("bastion.exchange") is self:
            del extensions["bastion.exchange"]
        self.task = None

    def extend_deadlines(self, read_timeout: float | None, write_timeout: float | None) -> None:
        """Give this request other READ_TIMEOUT / WRITE_TIMEOUT deadlines, from its start.

        For a route the design lets take longer (an upload, a download); None keeps the
        server's. The request's `Lifetime` moves with the write deadline.
        """
        conn = self.conn
        limits = conn._limits
        if read_timeout is not None:
            self.read_deadline += read_timeout - limits.read_timeout
        if write_timeout is not None:
            moved = write_timeout - limits.write_timeout
            self.write_deadline += moved
            if self.lifetime is not None and self.lifetime.deadline is not None:
                self.lifetime.deadline += moved
        if conn.current is self and not self.cancel_reason:
            conn.deadline = min(self.read_deadline, self.write_deadline)

    # -- receive ------------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next part of the request body; `http.disconnect` once the client left.

        Raises `RequestTimeout` when the body is not whole by the read deadline.
        """
        if self.read_timed_out:
            raise RequestTimeout("the request body was not received within READ_TIMEOUT")
        conn = self.conn
        if self._continue:
            self._continue = False
            if not self.message_complete and not self.started:
                conn.write(_CONTINUE)
        while not self._body and not self.message_complete:
            if self.body_error:
                raise MalformedBody(self.body_error)
            if conn.closed or conn.eof:
                return _DISCONNECT  # gone, or half-closed with the body unfinished
            conn.resume_reading()
            await self._wait()
            if self.read_timed_out:
                raise RequestTimeout("the request body was not received within READ_TIMEOUT")
        if not self._final_sent:
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._body.clear()
            self._body_size = 0
            more = not self.message_complete
            if more:
                conn.resume_reading()
            else:
                self._final_sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        # After the whole body only the end of the exchange can come.
        if not conn.closed and not self.complete:
            await self._wait()
        return _DISCONNECT

    async def _wait(self) -> None:
        waiter = self._waiter = self.conn.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def wake(self) -> None:
        """Release a `receive` waiting for body, a timeout or the end."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def feed(self, data: bytes) -> None:
        """Take a piece of the request body from the parser."""
        self.request_bytes += len(data)
        if self.complete:
            return  # the unread rest of an answered request, being discarded
        self._body.append(data)
        self._body_size += len(data)
        if self._body_size > _BODY_HIGH_WATER:
            self.conn.pause_reading()
        self.wake()

    @property
    def discarded(self) -> int:
        """Bytes of body read and dropped since the response was complete."""
        return self.request_bytes - self._discard_from if self.complete else 0

    def stream_writes(self, writing: bool) -> None:
        """Bound each write of a long-lived response by WRITE_TIMEOUT, not the whole of it.

        For server-sent events: with `writing` the write deadline is WRITE_TIMEOUT from
        now (a client that stopped reading is cut when it passes); without, there is none
        (a stream waiting for its next event is not late).
        """
        conn = self.conn
        if writing:
            self.write_deadline = conn.loop.time() + conn._limits.write_timeout
            conn.deadline = min(conn.deadline, self.write_deadline)
        else:
            self.write_deadline = _NEVER

    # -- send ---------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Write the response: its start, then its body in one or more parts.

        Raises `ClientDisconnected` once the connection is closed or was cut.
        """
        conn = self.conn
        transport = conn.transport
        # A transport closing after a failed write drops what is written: a streamed body
        # would run on unseen, never awaiting, so the loss is noticed here.
        if conn.closed or self.aborted or (transport is not None and transport.is_closing()):
            raise ClientDisconnected("the client connection is closed")
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start was sent twice")
            self.started = True
            self.status = int(message["status"])
            self._headers = list(message.get("headers", ()))
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an HTTP connection")
        if not self.started:
            raise RuntimeError("http.response.body was sent before http.response.start")
        if self.complete:
            raise RuntimeError("http.response.body was sent after the response was complete")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        self.body_bytes += len(body)
        if self.head_written:
            data = self._frame(body, more)
        else:
            # The head waits for the first body part: one write when the body is whole.
            head = self._head(None if more else len(body))
            self._head_size = len(head)
            data = head + self._frame(body, more)
        if data:
            conn.write(data)
            self.bytes_sent += len(data)
        if conn.write_paused:
            # Written means taken by the kernel: a client that does not read keeps the
            # response unfinished, and the write deadline cuts it.
            await conn.drained(self)
        if not more:
            if self._left_to_send:
                # Fewer bytes than the Content-Length announced: the framing is broken.
                self._framing_broken = True
                self.keep_alive = False
            self.complete = True
            self._discard_from = self.request_bytes
            conn.response_complete(self)

    def _head(self, whole: int | None) -> bytes:
        status = self.status
        parts = [status_line(status)]
        length: int | None = None
        no_body = status in _NO_BODY or status < 200
        request_id = self.request_id
        for name, value in self._headers:
            if _UNSAFE_HEADER.search(name) or _UNSAFE_HEADER.search(value):
                raise RuntimeError(f"response header {name!r}: CR, LF and NUL are not allowed")
            lower = name.lower()
            if lower == b"content-length":
                if length is not None:
                    raise RuntimeError("the response has two Content-Length headers")
                length = int(value)
                continue
            if lower == b"connection":
                if value.lower() == b"close":
                    self.keep_alive = False
                continue
            if lower == b"transfer-encoding":
                continue  # framing is the server's job
            if lower == b"x-request-id":
                request_id = b""  # the app's own
            parts += (name, b": ", value, b"\r\n")
        if request_id:
            parts += (b"x-request-id: ", request_id, b"\r\n")
        if no_body:
            self._no_body = True
            self._left_to_send = None
        elif length is not None or whole is not None:
            size = length if length is not None else whole
            parts += (b"content-length: ", str(size).encode("latin-1"), b"\r\n")
            # A HEAD response announces the length of the body it does not carry.
            self._left_to_send = None if self._no_body else size
        elif self._no_body:
            pass  # HEAD without a known length
        elif self.scope["http_version"] == "1.1":
            parts.append(b"transfer-encoding: chunked\r\n")
            self._chunked = True
        else:
            self.keep_alive = False  # HTTP/1.0 without a length: the close ends the body
        conn = self.conn
        if not self.keep_alive or conn.shutting_down:
            self.keep_alive = False
            parts.append(b"connection: close\r\n")
        elif self.scope["http_version"] == "1.0":
            parts.append(b"connection: keep-alive\r\n")
        parts.append(conn.listener.default_headers)
        self.head_written = True
        return b"".join(parts)

    def _frame(self, body: bytes, more: bool) -> bytes:
        if self._no_body:
            return b""
        if self._chunked:
            if not body:
                return b"" if more else b"0\r\n\r\n"
            framed = b"%x\r\n%b\r\n" % (len(body), body)
            return framed if more else framed + b"0\r\n\r\n"
        left = self._left_to_send
        if left is not None:
            if len(body) > left:
                raise RuntimeError("the response body is longer than its Content-Length")
            self._left_to_send = left - len(body)
        return body


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; its listener makes it and sweeps its deadlines."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.loop = listener.loop
        self._limits = listener.limits
        self.transport: asyncio.Transport | None = None
        #: None once the connection is lost (see `connection_lost`).
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.closed = False
        #: The client half-closed: no more request bytes can come.
        self.eof = False
        self.shutting_down = False
        self.write_paused = False
        self.unsent_at_abort = 0
        self._read_paused = False
        self._drain: asyncio.Future[None] | None = None
        # The header deadline counts from the accept, before any TLS handshake.
        self.phase = NEW
        self.deadline = self.loop.time() + self._limits.read_header_timeout
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self._url = b""
        self._url_size = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._raw_head_bytes = 0
        self._messages_this_read = 0
        self._in_head = False
        self._parsing: Exchange | None = None
        #: The request being served; those behind it wait in `_queue` (or a refusal does).
        self.current: Exchange | None = None
        self._queue: deque[Exchange | bytes] = deque()
        self._refused = False
        self._broken = False  # the parser failed: nothing more is read
        #: The WebSocket this connection became, once upgraded.
        self.ws: WebSocketSession | None = None
        self._upgrade: dict[str, Any] | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register with the listener and note both addresses."""
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast("asyncio.Transport", transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.client = (str(peer[0]), int(peer[1]))
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple) and len(local) >= 2:
            self.server = (str(local[0]), int(local[1]))
        self.listener.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake whatever waits on this connection; the listener forgets it."""
        self.closed = True
        self.phase = CLOSED
        if self.ws is not None:
            self.ws.connection_lost()
            self.ws = None  # the session holds this connection: no cycle left behind
        if self.current is not None:
            self.current.wake()
        for item in self._queue:
            if isinstance(item, Exchange):
                item.wake()
                item.release()  # never to be served
        self._queue.clear()
        self.current = self._parsing = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self.listener.connection_closed(self)
        # The transport, the parser (through its bound callbacks) and the exchanges point
        # back at this connection: let go of them so that refcounting frees it, not the
        # cycle collector (see `Exchange.release`). Nothing reads or writes after the loss.
        self.transport = None
        self.parser = None

    def eof_received(self) -> bool:
        """The client half-closed: finish the response in progress, then close."""
        if self.ws is not None:
            self.ws.eof_received()
            return False
        if self.current is None:
            self.close()
            return False
        self.eof = True
        self.current.wake()  # a body still expected will never come
        self.current.keep_alive = False
        # TLS cannot half-close: there the transport closes whatever this returns.
        return self.listener.scheme != "https"

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse a head over the limit and broken framing."""
        if self.ws is not None:
            self.ws.data_received(data)
            return
        parser = self.parser
        if self._refused or self._broken or self.closed or parser is None:
            return
        phase = self.phase
        if phase in (NEW, IDLE):
            # The first byte of a request: its head has READ_HEADER_TIMEOUT from now.
            self.phase = HEAD
            self.deadline = self.loop.time() + self._limits.read_header_timeout
            self._raw_head_bytes = 0
        if self._in_head or phase != ACTIVE:
            self._raw_head_bytes += len(data)
        self._messages_this_read = 0
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgraded(data[offset:])
            return
        except httptools.HttpParserCallbackError:
            return  # a callback refused the request already
        except httptools.HttpParserError as exc:
            self._framing_error(exc)
            return
        if self._in_head and self._raw_head_bytes > self._limits.max_header_bytes:
            # A head that has not ended has passed the limit already.
            self._refuse_head()

    def pause_writing(self) -> None:
        """The transport's buffer is full: sends wait until it drains."""
        self.write_paused = True

    def resume_writing(self) -> None:
        """The buffer drained: release a waiting send."""
        self.write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A request starts: reset what describes its head."""
        self._url_size = 0
        if self._messages_this_read:
            # It began after another request in the same read: count its head from the
            # next read on (never more than its own bytes; on_header counts exactly).
            self._raw_head_bytes = 0
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        """Collect the request target; past its limit, it is refused once the head is in."""
        self._url_size += len(url)
        if self._url_size > self._limits.max_url_bytes:
            # Keep reading the headers (bounded by MAX_HEADER_BYTES) so that the 414 carries
            # the client's request id; keep only the start of the target, for the log.
            self._url = (self._url + url)[:512]
            return
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """Collect one header, counting the head's size as Go's MaxHeaderBytes does."""
        self._head_size += len(name) + len(value) + 4
        if self._head_size + self._url_size + 16 > self._limits.max_header_bytes:
            self._refuse_head()
            raise _Refused
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        """Build the request's scope; serve it now, or after the request before it."""
        self._in_head = False
        self._raw_head_bytes = 0
        limit = self._limits.max_url_bytes
        if self._url_size > limit:
            self._refuse(414, "uri_too_long", f"the request target is longer than {limit} bytes")
            raise _Refused
        parser = self.parser
        if parser is None:  # only the parser calls this, while it parses
            raise _Refused
        version = parser.get_http_version()
        method = parser.get_method().decode("ascii")
        headers = self._headers
        hosts = 0
        expect = False
        for name, value in headers:
            if name == b"host":
                hosts += 1
            elif name == b"expect" and value.lower() == b"100-continue":
                expect = True
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            # RFC 9112 §3.2: exactly one Host header in an HTTP/1.1 request.
            self._refuse(400, "bad_request", "an HTTP/1.1 request needs exactly one Host header")
            raise _Refused
        raw_path, _, query = self._url.partition(b"?")
        if not raw_path.startswith(b"/"):
            if raw_path.startswith((b"http://", b"https://")):
                # The absolute form: the path is what follows the authority.
                rest = raw_path.split(b"/", 3)
                raw_path = b"/" + (rest[3] if len(rest) > 3 else b"")
            elif not (method == "OPTIONS" and raw_path == b"*"):
                self._refuse(400, "bad_request", "the request target is not a path")
                raise _Refused
        listener = self.listener
        text = raw_path.decode("latin-1")
        if parser.should_upgrade():
            self._upgrade = {
                "type": "websocket",
                "asgi": listener.asgi_version,
                "http_version": version,
                "server": self.server,
                "client": self.client,
                "scheme": "wss" if listener.scheme == "https" else "ws",
                "root_path": "",
                "path": unquote(text) if "%" in text else text,
                "raw_path": raw_path,
                "query_string": query,
                "headers": headers,
                "subprotocols": _subprotocols(headers),
                "state": listener.state.copy(),
                "method": method,
            }
            return
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": listener.asgi_version,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": listener.scheme,
            "method": method,
            "root_path": "",
            "path": unquote(text) if "%" in text else text,
            "raw_path": raw_path,
            "query_string": query,
            "headers": headers,
            "state": listener.state.copy(),
        }
        exchange = Exchange(self, scope, parser.should_keep_alive(), expect)
        scope["extensions"] = {"bastion.exchange": exchange}
        self._parsing = exchange
        if self.current is None and not self._queue:
            self._start(exchange)
        elif len(self._queue) >= MAX_PIPELINED:
            # Parsing ahead costs memory per request: past this depth, the client is told
            # to send the rest later, after the answers it is owed.
            self._parsing = None
            exchange.release()
            self._refuse(503, "unavailable",
                         f"more than {MAX_PIPELINED} pipelined requests on one connection; "
                         "send the rest once these are answered", temporary=True)
            raise _Refused
        else:
            # Pipelined: its deadlines start when its turn comes, as if read only then.
            self._queue.append(exchange)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        """Hand a piece of body to its request; a long unread rest closes the connection."""
        exchange = self._parsing
        if exchange is None:
            return
        exchange.feed(body)
        if exchange.discarded > DISCARD_LIMIT:
            self.close()

    def on_message_complete(self) -> None:
        """The request is read whole: a discarded rest lets the connection go on."""
        self._messages_this_read += 1
        exchange = self._parsing
        self._parsing = None
        if exchange is None:
            return
        exchange.message_complete = True
        exchange.wake()
        if exchange.complete and exchange is self.current:
            self._finish(exchange)

    # -- WebSocket --------------------------------------------------------------------------

    def _upgraded(self, rest: bytes) -> None:
        scope, self._upgrade = self._upgrade, None
        if scope is None or scope["method"] != "GET" or not is_websocket_upgrade(scope["headers"]):
            self._refuse(501, "not_implemented", "this server switches to WebSocket only")
            return
        if self.current is not None or self._queue:
            self._refuse(400, "bad_request", "an upgrade must not follow a pipelined request")
            return
        del scope["method"]
        session = WebSocketSession(self, scope)
        invalid = session.handshake_error()
        if invalid is not None:
            self._refuse(invalid.status_code, "bad_request",
                         f"invalid WebSocket handshake: {invalid.body.decode('utf-8', 'replace')}")
            return
        scope["extensions"] = {"websocket.http.response": {}, "bastion.websocket": session}
        self.ws = session
        self.phase = WEBSOCKET
        self.deadline = self.loop.time() + min(self._limits.ws_ping_interval,
                                               self._limits.ws_idle_timeout) / 2
        if rest:
            session.data_received(rest)
        self.listener.run_websocket(session)

    def refuse_upgrade(self, status: int, name: str, message: str) -> None:
        """Answer an upgrade with an HTTP error instead: the app failed before accepting it."""
        self.ws = None
        self._refuse(status, name, message)

    def close_after(self, seconds: float) -> None:
        """Close the connection within `seconds`, whatever the peer does (a closing handshake)."""
        deadline = self.loop.time() + seconds
        if self.phase != CLOSING or deadline < self.deadline:
            self.deadline = deadline
        self.phase = CLOSING

    async def drained_or_closed(self) -> None:
        """Wait until the transport takes more; raise `ClientDisconnected` once it is closed."""
        while self.write_paused and not self.closed:
            drain = self._drain
            if drain is None or drain.done():
                drain = self._drain = self.loop.create_future()
            await asyncio.shield(drain)
        if self.closed:
            raise ClientDisconnected("the connection is closed")

    # -- serving --------------------------------------------------------------------------

    def _start(self, exchange: Exchange) -> None:
        now = self.loop.time()
        limits = self._limits
        exchange.read_deadline = now + limits.read_timeout
        exchange.write_deadline = now + limits.write_timeout
        self.current = exchange
        self.phase = ACTIVE
        self.deadline = min(exchange.read_deadline, exchange.write_deadline)
        listener = self.listener
        if listener.at_capacity():
            self._refuse(
                503,
                "unavailable",
                "the server is at its limit of concurrent requests; retry later",
                temporary=True,
                retry_after=True,
                exchange=exchange,
                # Only an overloaded request read whole lets the next one come.
                keep=exchange.message_complete,
            )
            exchange.release()  # answered without the app
            return
        listener.run(exchange)

    def response_complete(self, exchange: Exchange) -> None:
        """The last byte of a response is written: go on with the connection, or close."""
        if exchange is not self.current:
            return
        if exchange.message_complete:
            self._finish(exchange)
            return
        # Answered before the whole body was read: drop a small rest, else close.
        if not exchange.keep_alive or self.shutting_down or exchange.read_timed_out:
            self.close()
            return
        length = _content_length(exchange.scope["headers"])
        if length is not None and length - exchange.request_bytes > DISCARD_LIMIT:
            self.close()
            return
        exchange._body.clear()
        self.phase = DISCARD
        self.deadline = exchange.read_deadline
        self.resume_reading()

    def _finish(self, exchange: Exchange) -> None:
        self.current = None
        if exchange._framing_broken or not exchange.keep_alive or self.shutting_down:
            self.close()
            return
        if self._queue:
            item = self._queue.popleft()
            if isinstance(item, bytes):
                self.write(item)  # a refusal that waited for the responses before it
                self.close()
                return
            self._start(item)
            if not self._queue:
                self.resume_reading()
            return
        self.phase = IDLE
        self.deadline = self.loop.time() + self._limits.idle_timeout
        self.resume_reading()

    def app_returned(self, exchange: Exchange) -> None:
        """The app's call ended: a response it left unfinished breaks the connection."""
        if exchange is self.current and not exchange.complete and not self.closed:
            exchange.aborted = True
            self.abort()

    # -- deadlines (the listener's sweep calls `expire`) -------------------------------------

    def expire(self, now: float) -> None:
        """A deadline of the current phase has passed: act on it."""
        phase = self.phase
        if phase == WEBSOCKET and self.ws is not None:
            self.deadline = self.ws.expire(now)
        elif phase == CLOSING:
            self.abort()
        elif phase == ACTIVE:
            self._expire_active(now)
        elif phase == HEAD and (self._in_head or self._raw_head_bytes):
            self._refuse(
                408,
                "request_timeout",
                "the request headers were not received within READ_HEADER_TIMEOUT",
                temporary=True,
                timeout=True,
            )
        elif phase != CLOSED:
            self.close()

    def _expire_active(self, now: float) -> None:
        exchange = self.current
        if exchange is None or exchange.complete:
            return
        if not exchange.message_complete and now >= exchange.read_deadline \
                and not exchange.read_timed_out:
            exchange.read_timed_out = True
            # Whatever the app answers, the rest of the body is never read.
            exchange.keep_alive = False
            self.pause_reading()
            exchange.wake()
        if exchange.cancel_reason:
            # Cancelled (write deadline or shutdown): it has GRACE to answer, then is cut.
            if now >= exchange.cancelled_at + GRACE:
                exchange.aborted = True
                self.abort()
            else:
                self.deadline = exchange.cancelled_at + GRACE
            return
        if now >= exchange.write_deadline:
            if exchange.started:
                # Too late for a status: the client sees the response cut short.
                exchange.aborted = True
                self.abort()
                self.listener.cancel(exchange, "write_timeout")
            elif self.listener.cancel(exchange, "write_timeout"):
                pass  # the app answers 503; `cancel` set the grace deadline
            elif now >= exchange.write_deadline + COMMIT_GRACE:
                exchange.aborted = True  # committing for too long: give up on it
                self.abort()
            else:
                self.deadline = now  # committing: look again at the next sweep
            return
        if exchange.message_complete or exchange.read_timed_out:
            self.deadline = exchange.write_deadline
        else:
            self.deadline = min(exchange.read_deadline, exchange.write_deadline)

    # -- refusals -------------------------------------------------------------------------

    def _framing_error(self, exc: httptools.HttpParserError) -> None:
        broken = self._parsing
        if broken is not None and broken is self.current:
            # The body of the request being served is broken: that request's answer is
            # the 400 (the app's read fails), and nothing more is read from here.
            self._parsing = None
            broken.body_error = f"invalid HTTP/1.1 body: {str(exc).strip() or 'bad framing'}"
            broken.keep_alive = False
            self._broken = True
            self.pause_reading()
            broken.wake()
            if broken.complete:
                self.close()
            return
        if isinstance(exc, httptools.HttpParserInvalidMethodError):
            self._refuse(400, "bad_request", "invalid request method")
        elif isinstance(exc, httptools.HttpParserInvalidURLError):
            self._refuse(400, "bad_request", "invalid request target")
        else:
            # The parser names the defect in its own fixed words; no request bytes.
            reason = str(exc).strip() or "malformed request"
            self._refuse(400, "bad_request", f"invalid HTTP/1.1 request: {reason}")

    def _refuse_head(self) -> None:
        limit = self._limits.max_header_bytes
        self._refuse(431, "request_header_fields_too_large",
                     f"the request headers are larger than {limit} bytes")

    def _refuse(
        self,
        status: int,
        name: str,
        message: str,
        *,
        temporary: bool = False,
        timeout: bool = False,
        retry_after: bool = False,
        exchange: Exchange | None = None,
        keep: bool = False,
    ) -> None:
        """Answer an error the server found itself, then close unless `keep` says not to."""
        if self._refused or self.closed:
            return
        headers = exchange.scope["headers"] if exchange is not None else self._headers
        rid = next((v for k, v in headers if k == b"x-request-id" and is_valid_request_id(v)),
                   b"")
        chosen = exchange.scope.get("bastion.request_id") if exchange is not None else None
        if isinstance(chosen, str) and chosen:
            rid = chosen.encode("latin-1")  # the id the app gave the request
        method: str | None = None
        path: str | None = None
        if exchange is not None:
            method, path = exchange.scope["method"], exchange.scope["path"]
        elif self._url and self.parser is not None:
            try:
                method = self.parser.get_method().decode("ascii")
            except Exception:  # the method was what was wrong
                method = None
            raw = self._url.partition(b"?")[0][:512].decode("latin-1")
            path = unquote(raw) if "%" in raw else raw
        refusal = Refusal(
            status=status,
            name=name,
            message=message,
            method=method,
            path=path,
            client=self.client[0] if self.client else None,
            request_id=rid.decode("ascii") if rid else "",
            temporary=temporary,
            timeout=timeout,
            retry_after=1 if retry_after else None,
        )
        extra, body = self.listener.refuse(refusal)
        keep = keep and not self.shutting_down and exchange is not None and exchange.keep_alive
        head = [status_line(status)]
        for key, value in extra:
            head += (key, b": ", value, b"\r\n")
        head += (b"content-length: ", str(len(body)).encode("latin-1"), b"\r\n")
        if not keep:
            head.append(b"connection: close\r\n")
        head.append(self.listener.default_headers)
        if exchange is not None and exchange.scope["method"] == "HEAD":
            body = b""
        data = b"".join(head) + body
        if exchange is not None:
            exchange.status = status
            exchange.started = exchange.head_written = exchange.complete = True
            exchange.bytes_sent = len(data)
        if self.current is not None and self.current is not exchange:
            # Earlier responses are not all written: this one follows them, then the close.
            # A request still being parsed when it was refused is no request at all.
            if self._parsing is not None and self._parsing in self._queue:
                self._queue.remove(self._parsing)
                self._parsing.release()
            self._parsing = None
            self._refused = True
            self.pause_reading()
            self._queue.append(data)
            return
        self.write(data)
        if keep and exchange is not None:
            self._finish(exchange)
            return
        self._refused = True
        self.close()

    def refuse_for(self, exchange: Exchange, status: int, name: str, message: str) -> None:
        """Answer for an app that did not (it failed, timed out or was cancelled), then close."""
        self._refuse(status, name, message, exchange=exchange,
                     temporary=status in (408, 503), timeout=name in ("timeout", "request_timeout"))

    # -- transport ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write to the transport unless it is closing."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def drained(self, exchange: Exchange) -> None:
        """Wait until the transport takes more; the write deadline bounds the wait."""
        while self.write_paused and not self.closed:
            drain = self._drain
            if drain is None or drain.done():
                drain = self._drain = self.loop.create_future()
            await asyncio.shield(drain)
        if self.closed or exchange.aborted:
            raise ClientDisconnected("the connection was cut while the response was written")

    def pause_reading(self) -> None:
        """Read no more from the socket until `resume_reading`."""
        if not self._read_paused and self.transport is not None and not self.closed:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again, unless a refusal ended the connection."""
        if (
            self._read_paused
            and self.transport is not None
            and not self.closed
            and not self._refused
            and not self._broken
            and not self._queue
        ):
            self._read_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        """Close once what is written is sent; later data is ignored."""
        self.phase = CLOSED
        self._refused = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self) -> None:
        """Drop the connection now, discarding what waits to be written."""
        transport = self.transport
        if transport is not None and not self.closed:
            self.unsent_at_abort = 0 if transport.is_closing() else (
                transport.get_write_buffer_size()
            )
            transport.abort()
        self.closed = True
        self.phase = CLOSED
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if self.current is not None:
            self.current.wake()

    def begin_shutdown(self) -> None:
        """Finish what is in progress, then close; an idle connection closes now.

        A connection that has sent nothing yet keeps its header deadline: it was
        accepted before the shutdown, so its request is still served.
        """
        self.shutting_down = True
        if self.ws is not None:
            self.ws.going_away()
        elif self.phase in (IDLE, DISCARD):
            self.close()


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that was refused."""


def _subprotocols(headers: list[tuple[bytes, bytes]]) -> list[str]:
    offered: list[str] = []
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            offered += [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]
    return offered


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
