"""A screening upstream for the orders example that sleeps, or holds, as each order asks."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator

from tests.support.servers import HTTPServerThread

_SLEEP = re.compile(r"^sleep-([0-9.]+)@")


@contextlib.contextmanager
def slow_upstream() -> Iterator[str]:
    """Serve `POST /check` on 127.0.0.1, sleeping `N` s for customer `sleep-N@...`.

    A check for customer `hold@...` waits until `POST /release` (at most 10 s), so that a
    test decides when it ends whatever the machine's load. `GET /calls` answers how many
    checks arrived so far. Yields the base URL.
    """
    calls = [0]
    lock = threading.Lock()
    released = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/release":
                released.set()
                self._answer(b'{"ok":true}')
                return
            with lock:
                calls[0] += 1
            customer = str(json.loads(body or b"{}").get("customer", ""))
            match = _SLEEP.match(customer)
            if match:
                time.sleep(float(match.group(1)))
            elif customer.startswith("hold@"):
                released.wait(timeout=10)
            self._answer(b'{"ok":true}')

        def do_GET(self) -> None:
            with lock:
                count = calls[0]
            self._answer(str(count).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the test reads the service's log, not this one's

    with HTTPServerThread(Handler) as server:
        yield server.url
