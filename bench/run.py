"""`make bench`: Bastion, FastAPI and Litestar on one scenario, in-process, in one run.

Each app is called directly through ASGI (no sockets, no server), so the numbers are
the frameworks' own cost per request. Rounds alternate between apps so that machine
noise hits them alike; the best round of each is reported, with ratios to Bastion.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench import scenario

Scope = dict[str, Any]


def _scope(method: str, path: str, body: bytes) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"user-agent", b"bench"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def _lifespan(app: Any) -> Callable[[], Any]:
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                   to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    await from_app.get()

    async def stop() -> None:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task

    return stop


async def _run(app: Any, n: int, body: bytes, expect: int) -> float:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = _scope("POST", "/orders", body)
    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - start
    if status != expect:
        raise SystemExit(f"bench: {app!r} answered {status}, expected {expect}")
    return elapsed / n * 1e6


async def main(rounds: int, n: int) -> None:
    apps = {
        "bastion": scenario.bastion_app(),
        "fastapi": scenario.fastapi_app(),
        "litestar": scenario.litestar_app(),
    }
    stops = [await _lifespan(a) for a in apps.values()]
    results: dict[str, list[float]] = {k: [] for k in apps}
    for app in apps.values():  # warm up caches and lazy imports
        await _run(app, 500, scenario.BODY, 201)
    gc.collect()
    for _ in range(rounds):
        for name, app in apps.items():
            results[name].append(await _run(app, n, scenario.BODY, 201))
    for stop in stops:
        await stop()
    base = min(results["bastion"])
    print(f"\nPOST /orders, validated JSON body, in-process ASGI "
          f"({rounds} rounds x {n} requests; best round, median in brackets)\n")
    print(f"{'framework':<10} {'us/request':>11} {'median':>9} {'x bastion':>10}")
    for name, times in results.items():
        best = min(times)
        print(f"{name:<10} {best:>11.1f} {statistics.median(times):>9.1f} {best / base:>10.2f}")
    lite = min(results["litestar"])
    print(f"\nbastion / litestar = {base / lite:.3f} (target: at most 0.333)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.n))
