"""uvicorn's httptools protocol with the two limits uvicorn lacks: header time and size.

uvicorn 0.54 never times out a client that sends its headers slowly, or nothing at all,
and reads headers of any size. This subclass arms a timer when a connection opens and
when the first byte of each later request arrives, cancels it when the headers are
complete, and closes the connection if it fires; it counts the bytes of each request head
and answers 431 past the limit. Everything else is uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bastion.server._responses import raw_error_response, request_id, send_error
from bastion.types import Receive, Scope, Send

__all__ = ["BastionHttpToolsProtocol", "HeadLimits"]

_log = logging.getLogger("bastion.server")


class HeadLimits:
    """The per-connection limits on a request head: time to receive it and its size."""

    __slots__ = ("max_bytes", "timeout")

    def __init__(self, timeout: float, max_bytes: int) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes


class BastionHttpToolsProtocol(HttpToolsProtocol):
    """HTTP/1.1 protocol: uvicorn's, plus a header-read timeout and a header size limit."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        head_limits: HeadLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # Bastion's request log replaces uvicorn's access log; formatting both costs twice.
        self.access_log = False
        self._limits = head_limits
        # Made at accept time, before any TLS handshake: the first head's deadline counts
        # from here, so a handshake that dawdles does not extend it.
        self._accepted_at = self.loop.time()
        self._head_timer: asyncio.TimerHandle | None = None
        # Bytes received while the current request head is incomplete. It is an upper
        # bound of the head's size (it may include some body) when the head began at the
        # start of a read; a head that began mid-read (pipelining) is measured exactly.
        self._head_bytes = 0
        self._in_head = True
        self._head_exact = False
        self._read_is_head = True
        self._begins = 0
        self._refused = False
        self._refusal_pending = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header timer: a client that never sends a byte is closed too."""
        super().connection_made(transport)
        self._head_timer = self.loop.call_at(
            self._accepted_at + self._limits.timeout, self._head_timed_out
        )

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header timer, then let uvicorn clean up."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting the bytes of an incomplete request head."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        self._read_is_head = self._in_head
        self._begins = 0
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._in_head and self._head_bytes > self._limits.max_bytes:
            self._refuse_head()

    def on_message_begin(self) -> None:
        """Start a request at its first byte: the header timer runs from here."""
        self._begins += 1
        if self._begins > 1 or not self._read_is_head:
            # This head began mid-read, after another request's bytes: count it exactly.
            self._head_exact = True
            self._head_bytes = 0
        self._in_head = True
        if self._head_timer is None:
            self._arm_head_timer()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        """Stop the header timer; a head over the limit is answered 431 in its turn."""
        self._in_head = False
        self._cancel_head_timer()
        limit = self._limits.max_bytes
        if (self._head_exact or self._head_bytes > limit) and self._head_size() > limit:
            # Let uvicorn queue the request as usual, so pipelined responses before it
            # keep their order, but with an app that answers 431 and closes. Nothing more
            # is read from this connection.
            self._refused = True
            self._head_exact = False
            self._head_bytes = 0
            app, self.app = self.app, self._refusal
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        self._head_exact = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """End a request; the next bytes on the connection start a new head."""
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _head_size(self) -> int:
        # Request line and header lines as Go's MaxHeaderBytes counts them.
        size = len(self.url) + 16
        for name, value in self.headers:
            size += len(name) + len(value) + 4
        return size

    async def _refusal(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_error(
            send,
            431,
            "request_header_fields_too_large",
            f"the request headers are larger than {self._limits.max_bytes} bytes",
            rid=request_id(scope),
            close=True,
        )

    def _refuse_head(self) -> None:
        # A head still incomplete is over the limit already.
        self._refused = True
        self._cancel_head_timer()
        if self.cycle is not None and not self.cycle.response_complete:
            # Earlier pipelined requests are still being answered: the 431 follows them.
            self._refusal_pending = True
            return
        self._write_431()

    def on_response_complete(self) -> None:
        """After a response: send a pending 431 once every earlier response is out."""
        if self._refusal_pending and not self.pipeline:
            self.server_state.total_requests += 1
            self._write_431()
            return
        super().on_response_complete()

    def _write_431(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(
                raw_error_response(
                    431,
                    "request_header_fields_too_large",
                    f"the request headers are larger than {self._limits.max_bytes} bytes",
                )
            )
            self.transport.close()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._limits.timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head is late while a response is still running: finish that
            # response, then close, rather than cut it off.
            self.cycle.keep_alive = False
            self._refused = True
            return
        self._refused = True
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "client"
        _log.debug(
            "closing connection from %s: no complete request headers within %gs",
            peer,
            self._limits.timeout,
        )
        if self._head_bytes:
            self.transport.write(
                raw_error_response(
                    408,
                    "request_timeout",
                    f"the request headers were not received within {self._limits.timeout:g}s",
                )
            )
        self.transport.close()
