"""Raw HTTP/1.1 on a socket: a request written byte for byte, a response read as it comes.

For tests and scripts that must see exactly what a server sends (pipelined answers,
when it closes), which an HTTP client library would hide.
"""

from __future__ import annotations

import socket
import time
import weakref
from dataclasses import dataclass, field


@dataclass
class Response:
    """A parsed HTTP/1.1 response."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> bytes:
    """Return a whole HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body and not any(k.lower() == "content-length" for k in (headers or {})):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# Bytes read past the end of a response (a pipelined next response), kept per socket.
_leftover: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, timeout: float = 10.0) -> Response:
    """Read one response (headers and a Content-Length body) from `sock`.

    Bytes past its end are kept for the next call, so pipelined responses read in order.
    """
    sock.settimeout(timeout)
    data = _leftover.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    response = Response(int(status_line.split()[1]), headers)
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    response.body, remainder = rest[:length], rest[length:]
    if remainder:
        _leftover[sock] = remainder
    return response


def exchange(port: int, data: bytes, timeout: float = 5.0) -> Response:
    """Send `data` on a fresh connection to 127.0.0.1:`port`; read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        return read_response(sock, timeout=timeout)


def seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """Read and discard until the peer closes; return the seconds it took.

    Raises TimeoutError if the connection is still open after `limit` seconds.
    """
    start = time.monotonic()
    try:
        while True:
            remaining = start + limit - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            if not sock.recv(65536):
                break
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        raise TimeoutError(f"still open after {limit}s") from None
    return time.monotonic() - start
