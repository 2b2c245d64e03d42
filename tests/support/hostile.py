"""Hostile HTTP/1.1 clients on raw sockets: bodies trickled a byte at a time, and
clients that pipeline requests and never read the answers.

Each trickled connection records when its response was whole and when the server
closed it, so a test can compare both with the server's deadlines.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Trickled:
    """One connection whose request body is sent a byte at a time, and what came back."""

    sock: socket.socket
    #: Body bytes still to send (never more than the request declared).
    remaining: int
    #: When the request head was sent (time.monotonic()).
    started: float = field(default_factory=time.monotonic)
    received: bytes = b""
    #: When a whole response (head and Content-Length body) had arrived, or None.
    answered_at: float | None = None
    #: When the server closed the connection (EOF or reset), or None.
    closed_at: float | None = None
    #: Body bytes sent after the head.
    sent: int = 0

    @property
    def status(self) -> int | None:
        """The status of the first response, once its head arrived."""
        if b"\r\n" not in self.received:
            return None
        return int(self.received.split(b" ", 2)[1])

    @property
    def responses(self) -> int:
        """How many response heads arrived."""
        return self.received.count(b"HTTP/1.1 ")

    def answered_after(self) -> float | None:
        """Seconds from the head to the whole response."""
        return None if self.answered_at is None else self.answered_at - self.started

    def closed_after(self) -> float | None:
        """Seconds from the head to the close."""
        return None if self.closed_at is None else self.closed_at - self.started

    def _take(self, data: bytes, now: float) -> None:
        self.received += data
        if self.answered_at is None and _whole_response(self.received):
            self.answered_at = now


def _whole_response(data: bytes) -> bool:
    head, found, rest = data.partition(b"\r\n\r\n")
    if not found:
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(rest) >= length


def open_trickled(port: int, head: bytes, declared: int, timeout: float = 10.0) -> Trickled:
    """Connect to 127.0.0.1:`port` and send `head`, whose body of `declared` bytes follows."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    started = time.monotonic()
    sock.sendall(head)
    return Trickled(sock, declared, started)


def trickle_head(method: str, path: str, length: int, extra: str = "") -> bytes:
    """A request head declaring a body of `length` bytes."""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
            f"{extra}\r\n").encode()


class Trickler:
    """Send one body byte every `interval` s on each connection until the server closes it.

    `run()` trickles in the calling thread until every connection is closed or `limit`
    seconds have passed; `start()` does it in a thread (`join()` waits for it).
    """

    def __init__(self, conns: list[Trickled], interval: float = 0.2, limit: float = 30.0) -> None:
        self.conns = conns
        self.interval = interval
        self.limit = limit
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def open_count(self) -> int:
        """How many of the connections the server has not closed yet."""
        return sum(1 for c in self.conns if c.closed_at is None)

    def run(self) -> list[Trickled]:
        """Trickle until every connection is closed or the limit passes; return them."""
        selector = selectors.DefaultSelector()
        for conn in self.conns:
            selector.register(conn.sock, selectors.EVENT_READ, conn)
        start = time.monotonic()
        next_send = start
        live = len(self.conns)
        try:
            while live and not self._stop.is_set() and time.monotonic() - start < self.limit:
                wait = max(0.0, next_send - time.monotonic())
                for key, _ in selector.select(wait):
                    conn = key.data
                    if self._read(conn):
                        selector.unregister(conn.sock)
                        live -= 1
                now = time.monotonic()
                if now >= next_send:
                    next_send = now + self.interval
                    for conn in self.conns:
                        if conn.closed_at is None and conn.remaining > 0:
                            self._send_one(conn, now)
        finally:
            selector.close()
        return self.conns

    def _read(self, conn: Trickled) -> bool:
        """Take what arrived; True when the server closed the connection."""
        now = time.monotonic()
        try:
            data = conn.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except (BlockingIOError, TimeoutError):
            return False
        if data:
            conn._take(data, now)
            return False
        conn.closed_at = now
        return True

    def _send_one(self, conn: Trickled, now: float) -> None:
        try:
            conn.sock.send(b"x")
        except (BrokenPipeError, ConnectionResetError):
            return  # closed: the selector sees the EOF or the reset
        conn.remaining -= 1
        conn.sent += 1

    def start(self) -> None:
        """Trickle in a background thread."""
        self._thread = threading.Thread(target=self.run, name="trickler", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background thread; stop it first when `timeout` passes."""
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()

    def close(self) -> None:
        """Close every client socket."""
        for conn in self.conns:
            conn.sock.close()


def non_reading_client(port: int, payload: bytes, rcvbuf: int = 4096) -> socket.socket:
    """A connection with a tiny receive buffer that sends `payload` and never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connect, so the window the client offers is small from the handshake on.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10.0)
    sock.connect(("127.0.0.1", port))
    sock.sendall(payload)
    return sock
