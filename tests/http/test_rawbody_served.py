"""Raw streamed bodies under Bastion's server: WRITE_TIMEOUT and a route's own deadline."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import AsyncIterator

import bastion
from bastion.dsl import *
from tests.support.rawhttp import request_bytes
from tests.support.threaded import serve_in_thread
from tests.support.waiting import wait_until


def design() -> APIExpr:
    with API("feeds") as api:
        pass
    for name, limits in (("plain", None), ("long", {"write_timeout": 30})):
        with Service(name), Method("feed"):
            with HTTP():
                GET(f"/{name}")
                SkipResponseBodyEncodeDecode()
                if limits:
                    BodyLimits(**limits)
    return api


class Feed:
    def __init__(self) -> None:
        self.outcome = ""

    async def feed(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            for _ in range(4096):  # 1 GiB: far more than the socket buffers hold
                yield bytes(256 * 1024)
        finally:
            self.outcome = "cancelled" if bastion.cancelled() else "ended"
        self.outcome = "completed"


def test_a_download_nobody_reads_is_cut_at_write_timeout_and_cancelled() -> None:
    plain, long = Feed(), Feed()
    app = bastion.App(design(), {"plain": plain, "long": long}, observe=False)
    with serve_in_thread(app, write_timeout=1.0) as port:
        socks = []
        for path in ("/plain", "/long"):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(request_bytes("GET", path))
            socks.append(sock)
        try:
            wait_until(lambda: plain.outcome == "cancelled", timeout=15)
            time.sleep(0.5)  # past WRITE_TIMEOUT: the route with its own deadline goes on
            assert long.outcome == ""
            socks[0].settimeout(10)
            with contextlib.suppress(OSError):  # the cut may come as a reset
                while socks[0].recv(1 << 20):
                    pass  # what the kernel held, then the cut
        finally:
            for sock in socks:
                sock.close()
        wait_until(lambda: long.outcome == "cancelled", timeout=15)  # the client left


def test_a_streamed_answer_is_whole_for_a_client_that_reads() -> None:
    class Short(Feed):
        async def _chunks(self) -> AsyncIterator[bytes]:
            for i in range(3):
                yield b"%d" % i
            self.outcome = "completed"

    short = Short()
    app = bastion.App(design(), {"plain": short, "long": Feed()}, observe=False)
    with serve_in_thread(app, write_timeout=5.0) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_bytes("GET", "/plain", {"Connection": "close"}))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"1\r\n0\r\n1\r\n1\r\n1\r\n2\r\n0\r\n\r\n"
    assert short.outcome == "completed"

