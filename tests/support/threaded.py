"""Serve an ASGI app with Bastion's own server in a thread of the test process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from bastion.server import Server, ServerOptions


@contextlib.contextmanager
def serve_in_thread(app: Any, **options: Any) -> Iterator[int]:
    """Serve `app` on a free 127.0.0.1 port, in a thread with its own loop; yield the port.

    `options` are more `ServerOptions` (`write_timeout=1.0`).
    """
    loop = asyncio.new_event_loop()
    server = Server(app, ServerOptions(http_host="127.0.0.1", http_port=0, admin_host=None,
                                       grpc_host=None, **options), announce=False)
    started = threading.Event()
    failed: list[BaseException] = []

    async def run() -> None:
        try:
            await server.start()
        except BaseException as exc:  # reported to the test below
            failed.append(exc)
            started.set()
            return
        started.set()
        await stop.wait()  # serve until the test is done
        await server.shutdown()

    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    started.wait(15)
    if failed:
        raise failed[0]
    if server.api is None:
        raise RuntimeError("the server did not start within 15 s")
    try:
        yield int(server.api.sock.getsockname()[1])
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        loop.close()
