"""Streams over HTTP: WebSocket round trips and messages, server-sent events, served.

Each runs the example in its own process on 127.0.0.1 (`python -m examples.chat`,
`python -m examples.feed`, their whole default stack on: spans, metrics, log lines to a
file), with a stock client in this process:

- **round trip**: a message sent on the chat's bidirectional stream and the line it
  comes back as — validated, relayed through the room (the example's own queue and
  tasks), checked and encoded — one at a time; beside it the same round trip on a bare
  `websockets` server in its own process (JSON decoded and encoded, nothing else), so
  the difference is what Bastion and the example's room add per message;
- **server stream**: messages per second of `/ticks?every=0` read by the client;
- **event stream**: events per second of `/clock?every=0` read by httpx.

    python -m bench.streams            # a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-" + "b" * 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _example(name: str, env: dict[str, str]) -> Iterator[int]:
    port = _free_port()
    log = Path(tempfile.mkdtemp()) / f"{name}.log"
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "HTTP_ADDR": f"127.0.0.1:{port}",
               "ADMIN_ADDR": "", "GRPC_ADDR": "", "LOG_FORMAT": "json", **env}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", f"examples.{name}"], env=environ,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _round_trips(url: str, n: int, reply_of: str) -> float:
    """Median µs of one message and its reply, over `n` in a row."""
    from websockets.asyncio.client import connect

    async with connect(url) as conn:
        await asyncio.sleep(0.1)
        times = []
        for i in range(n):
            start = time.perf_counter()
            await conn.send(json.dumps({"text": f"message {i}"}))
            reply = json.loads(await conn.recv())
            times.append(time.perf_counter() - start)
            assert reply_of in reply
    return statistics.median(times) * 1e6


async def _bare_server(port: int) -> None:
    """A bare `websockets` server: the chat's line for each message, JSON in and out."""
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            value = json.loads(message)
            await conn.send(json.dumps({"seq": 1, "user": "x", "text": value["text"]}))

    async with serve(echo, "127.0.0.1", port):
        await asyncio.Future()


@contextlib.contextmanager
def _bare() -> Iterator[int]:
    # In its own process, as the example is: the same hops for both.
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.streams", "--bare-server",
                             str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _messages(url: str, count: int) -> float:
    from websockets.asyncio.client import connect

    async with connect(url, max_queue=None) as conn:
        start = time.perf_counter()
        got = 0
        with contextlib.suppress(Exception):
            while True:
                await conn.recv()
                got += 1
        elapsed = time.perf_counter() - start
    assert got == count, got
    return got / elapsed


def _events(url: str, repeat: int) -> float:
    import httpx

    got = 0
    start = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for _ in range(repeat):
            with client.stream("GET", url) as r:
                got += sum(1 for line in r.iter_lines() if line.startswith("data:"))
    return got / (time.perf_counter() - start)


def main() -> None:
    """Run the three measures and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(_bare_server(args.bare_server))
        return
    rows: list[tuple[str, str]] = []
    rounds = 5  # alternated, so that a busy moment of the machine hits both sides
    with _example("chat", {"CHAT_KEYS": f"bench:{KEY}"}) as chat, _bare() as bare:
        ours, theirs, rates = [], [], []
        for _ in range(rounds):
            ours.append(asyncio.run(_round_trips(
                f"ws://127.0.0.1:{chat}/rooms/bench?key={KEY}", args.trips // rounds, "seq")))
            theirs.append(asyncio.run(_round_trips(
                f"ws://127.0.0.1:{bare}/", args.trips // rounds, "seq")))
            rates.append(asyncio.run(_messages(
                f"ws://127.0.0.1:{chat}/ticks?count=1000&every=0", 1000)))
    bastion_rt, bare_rt = statistics.median(ours), statistics.median(theirs)
    rows.append(("WebSocket round trip, Bastion chat (median)", f"{bastion_rt:.0f} µs"))
    rows.append(("WebSocket round trip, bare websockets server (median)", f"{bare_rt:.0f} µs"))
    rows.append(("what Bastion and the room add per round trip", f"{bastion_rt - bare_rt:.0f} µs"))
    rows.append(("WebSocket server stream, messages read per second",
                 f"{statistics.median(rates):,.0f}"))
    with _example("feed", {"FEED_KEYS": f"desk:{KEY}"}) as port:
        events = statistics.median(
            _events(f"http://127.0.0.1:{port}/clock?count=1000&every=0", 2)
            for _ in range(rounds))
    rows.append(("Server-sent events read per second (median)", f"{events:,.0f}"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>12}")


if __name__ == "__main__":
    main()
