"""Hostile clients against the orders example: what the server holds before, during, after.

    .venv/bin/python -m bench.attack [--connections 300]

Starts `python -m examples.orders` on free loopback ports (2 s timeouts, as in issue 10)
and plays, with raw sockets:

1. unread bodies: N connections each send `GET /ping` declaring a body, then trickle it a
   byte every 0.2 s; once with a large body (1,000,000 bytes: closed right after the
   response) and once with a small one (10,000 bytes: dropped until READ_TIMEOUT);
2. non-reading clients: N connections with a 4 KiB receive buffer each pipeline 200
   `GET /openapi.json` and never read;
4. SIGTERM 20 ms after the first of 100 new connections, each posting an order (half of
   them send it only after the signal), on a fresh process: how many got their 201.

For 1 and 2 it prints the connections the server process holds on its API port (from
/proc) and its RSS before the attack, at the worst moment during it, and after it (once
the clients are gone and the process had a moment); and whether a new client was served
during the attack. Run by hand, not by the test suite; it takes under a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import tempfile
import time
from pathlib import Path

from examples.orders.mint import mint
from tests.support.hostile import Trickler, non_reading_client, open_trickled, trickle_head
from tests.support.orders import Orders, orders_example
from tests.support.procfs import open_connections, rss_bytes
from tests.support.rawhttp import read_response, request_bytes

TIMEOUTS = {
    "READ_HEADER_TIMEOUT": "2s",
    "READ_TIMEOUT": "2s",
    "WRITE_TIMEOUT": "2s",
    "IDLE_TIMEOUT": "2s",
    "SHUTDOWN_TIMEOUT": "5s",
}
#: Stop an attack early if the server's RSS passes this: the machine is shared.
RSS_GUARD = 1536 << 20
MIB = 1 << 20


class Sampler:
    """The server's connection count and RSS, sampled while an attack runs."""

    def __init__(self, orders: Orders) -> None:
        self.orders = orders
        self.held = 0
        self.rss = 0

    def sample(self) -> tuple[int, int]:
        held = open_connections(self.orders.pid, self.orders.port)
        rss = rss_bytes(self.orders.pid)
        self.held, self.rss = max(self.held, held), max(self.rss, rss)
        return held, rss


def _newcomer_served(orders: Orders) -> str:
    start = time.monotonic()
    try:
        sock = orders.connect(timeout=5.0)
    except OSError as exc:
        return f"not connected ({type(exc).__name__})"
    with sock:
        try:
            sock.sendall(request_bytes("GET", "/ping"))
            status = read_response(sock, timeout=5.0).status
        except OSError as exc:
            return f"connected, no answer within 5 s ({type(exc).__name__})"
    return f"{status} in {(time.monotonic() - start) * 1000:.0f} ms"


def _settle(orders: Orders, baseline_held: int, limit: float = 10.0) -> tuple[int, int, float]:
    """Wait for the server to let the attack's connections go; then a moment for memory."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if open_connections(orders.pid, orders.port) <= baseline_held:
            break
        time.sleep(0.1)
    gone = time.monotonic() - start
    time.sleep(2.0)
    return open_connections(orders.pid, orders.port), rss_bytes(orders.pid), gone


def _report(title: str, before: tuple[int, int], sampler: Sampler, after: tuple[int, int],
            extra: str) -> None:
    print(f"{title}")
    print(f"  connections held: before {before[0]}, during (max) {sampler.held}, "
          f"after {after[0]}")
    print(f"  RSS: before {before[1] / MIB:.0f} MiB, during (max) {sampler.rss / MIB:.0f} MiB, "
          f"after {after[1] / MIB:.0f} MiB")
    print(f"  {extra}")


def unread_bodies(orders: Orders, connections: int, declared: int) -> None:
    """Item 1: trickled bodies the handler never reads."""
    before = (open_connections(orders.pid, orders.port), rss_bytes(orders.pid))
    sampler = Sampler(orders)
    conns = [open_trickled(orders.port, trickle_head("GET", "/ping", declared), declared)
             for _ in range(connections)]
    trickler = Trickler(conns, interval=0.2, limit=15.0)
    trickler.start()
    try:
        sampler.sample()
        newcomer = _newcomer_served(orders)
        start = time.monotonic()
        while trickler.open_count() and time.monotonic() - start < 15.0:
            sampler.sample()
            time.sleep(0.1)
        trickler.join(timeout=1.0)
    finally:
        trickler.close()
    held, rss, _ = _settle(orders, before[0])
    closed = [t for c in conns if (t := c.closed_after()) is not None]
    answered = sum(1 for c in conns if c.status == 200)
    slowest = f"{max(closed):.2f} s" if closed else "-"
    _report(f"1. unread bodies: {connections} connections, Content-Length {declared:,}, "
            f"a byte every 0.2 s", before, sampler, (held, rss),
            f"answered 200: {answered}/{connections}; closed by the server: "
            f"{len(closed)}/{connections} (the last {slowest} after its head); "
            f"a new client during the attack: {newcomer}")


def non_readers(orders: Orders, connections: int) -> None:
    """Item 2: clients that pipeline requests and never read the responses."""
    with orders.connect() as sock:  # build and cache the spec before the baseline
        sock.sendall(request_bytes("GET", "/openapi.json"))
        read_response(sock)
    time.sleep(0.5)
    before = (open_connections(orders.pid, orders.port), rss_bytes(orders.pid))
    sampler = Sampler(orders)
    payload = request_bytes("GET", "/openapi.json") * 200
    clients: list[socket.socket] = []
    newcomer = "not tried"  # until the clients are connected
    cut_after: float | None = None
    guard = ""
    try:
        for _ in range(connections):
            clients.append(non_reading_client(orders.port, payload))
        start = time.monotonic()
        while time.monotonic() - start < 12.0:
            held, rss = sampler.sample()
            if newcomer == "not tried" and time.monotonic() - start > 0.3:
                newcomer = _newcomer_served(orders)
            if held <= before[0]:
                cut_after = time.monotonic() - start
                break
            if rss > RSS_GUARD:
                guard = f" (stopped early: RSS passed {RSS_GUARD / MIB:.0f} MiB)"
                break
            time.sleep(0.1)
    finally:
        for sock in clients:
            sock.close()
    held, rss, _ = _settle(orders, before[0])
    cut = f"all cut {cut_after:.1f} s after the attack" if cut_after is not None else (
        "still held when the clients gave up after 12 s" + guard)
    _report(f"2. non-reading clients: {connections} connections, 4 KiB receive buffer, "
            f"200 pipelined GET /openapi.json each", before, sampler, (held, rss),
            f"{cut}; a new client during the attack: {newcomer}")


def sigterm_in_flight(folder: Path) -> None:
    """Item 4: SIGTERM 20 ms after the first of 100 new connections."""
    token = mint(["orders:write"])
    body = b'{"amount": 1.5, "type": "retail", "customer": "ada@example.com"}'
    post = request_bytes("POST", "/orders", {"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/json"}, body)
    with orders_example(folder, TIMEOUTS) as orders:
        socks: list[socket.socket] = []
        first = 0.0
        for _ in range(100):
            socks.append(orders.connect())
            if len(socks) == 1:
                first = time.monotonic()
        for sock in socks[::2]:
            sock.sendall(post)
        time.sleep(max(0.0, first + 0.02 - time.monotonic()))
        signalled = (time.monotonic() - first) * 1000
        orders.process.send_signal(15)
        for sock in socks[1::2]:
            with contextlib.suppress(OSError):
                sock.sendall(post)
        outcomes: dict[str, int] = {}
        for sock in socks:
            outcome = _outcome(sock)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            sock.close()
        status = orders.process.wait(timeout=30)
    print("4. SIGTERM with 100 new connections in flight "
          f"(signal {signalled:.0f} ms after the first connect; half the requests sent after it)")
    print(f"  responses: {outcomes.get('201', 0)}/100 created; all outcomes {outcomes}; "
          f"exit status {status}")


def _outcome(sock: socket.socket) -> str:
    try:
        return str(read_response(sock, timeout=15.0).status)
    except (ConnectionError, TimeoutError) as exc:
        return type(exc).__name__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=300,
                        help="connections per attack of items 1 and 2 (default 300)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bastion-attack-") as tmp:
        folder = Path(tmp)
        with orders_example(folder, TIMEOUTS) as orders:
            print(f"orders example, pid {orders.pid}, timeouts "
                  + " ".join(f"{k}={v}" for k, v in TIMEOUTS.items()))
            unread_bodies(orders, args.connections, 1_000_000)
            unread_bodies(orders, args.connections, 10_000)
            non_readers(orders, args.connections)
        sigterm_in_flight(folder)


if __name__ == "__main__":
    main()
