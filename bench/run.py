"""`make bench`: Bastion, FastAPI and Litestar on the same scenarios, in-process, in one run.

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


def _scope(method: str, path: str, body: bytes, extra: list[tuple[bytes, bytes]]) -> Scope:
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
            *extra,
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


async def _run(
    app: Any, n: int, body: bytes, expect: int, headers: list[tuple[bytes, bytes]]
) -> float:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = _scope("POST", "/orders", body, headers)
    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - start
    if status != expect:
        raise SystemExit(f"bench: {app!r} answered {status}, expected {expect}")
    return elapsed / n * 1e6


async def _measure(
    apps: dict[str, Any],
    rounds: int,
    n: int,
    headers: dict[str, list[tuple[bytes, bytes]]] | None = None,
) -> dict[str, list[float]]:
    stops = [await _lifespan(a) for a in apps.values()]
    results: dict[str, list[float]] = {k: [] for k in apps}
    extra = headers or {}
    for name, app in apps.items():  # warm up caches and lazy imports
        await _run(app, 500, scenario.BODY, 201, extra.get(name, []))
    gc.collect()
    for _ in range(rounds):
        for name, app in apps.items():
            results[name].append(await _run(app, n, scenario.BODY, 201, extra.get(name, [])))
    for stop in stops:
        await stop()
    return results


def _table(results: dict[str, list[float]], base: str) -> None:
    ref = min(results[base])
    print(f"{'app':<28} {'us/request':>11} {'median':>9} {'x ' + base:>18}")
    for name, times in results.items():
        best = min(times)
        print(f"{name:<28} {best:>11.1f} {statistics.median(times):>9.1f} {best / ref:>18.2f}")


async def foundation(rounds: int, n: int) -> None:
    """Scenario 1: the frameworks alone, no observability."""
    results = await _measure(
        {
            "bastion": scenario.bastion_app(),
            # The design's ValidateResults(False): the result is written as returned.
            "bastion (results unchecked)": scenario.bastion_app(validate_results=False),
            "fastapi": scenario.fastapi_app(),
            "litestar": scenario.litestar_app(),
        },
        rounds,
        n,
    )
    print(f"\n1. POST /orders, validated JSON body, in-process ASGI, no observability "
          f"({rounds} rounds x {n} requests; best round, median beside it)\n")
    _table(results, "bastion")
    ratio = min(results["bastion"]) / min(results["litestar"])
    print(f"\nbastion / litestar = {ratio:.3f} (target: at most 0.333)")


async def observability(rounds: int, n: int, log_path: str) -> None:
    """Scenario 2: each framework with its usual OpenTelemetry instrumentation."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    from bastion.log._logger import Logger
    from bastion.otel._sampler import ParentBasedSampler
    from bastion.otel._telemetry import configure

    class Null(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    log_file = open(log_path, "w")  # noqa: SIM115 - closed below
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(BatchSpanProcessor(Null()))
    meters = MeterProvider()

    def peer(app: Any) -> Any:
        return OpenTelemetryMiddleware(app, tracer_provider=provider, meter_provider=meters)

    default = configure("bench", "1", env={})
    always = configure("bench", "1", env={}, sampler=ParentBasedSampler(ALWAYS_ON),
                       span_processors=[BatchSpanProcessor(Null())])
    results = await _measure(
        {
            "bastion bare": scenario.bastion_app(),
            "bastion full stack": scenario.bastion_app(
                full=True, telemetry=default,
                logger=Logger(stream=log_file, format="json")),
            "bastion full, always sample": scenario.bastion_app(
                full=True, telemetry=always,
                logger=Logger(stream=log_file, format="json")),
            "fastapi bare": scenario.fastapi_app(),
            "fastapi + otel asgi": peer(scenario.fastapi_app()),
            "litestar bare": scenario.litestar_app(),
            "litestar + otel asgi": peer(scenario.litestar_app()),
        },
        rounds,
        n,
    )
    default.shutdown()
    always.shutdown()
    provider.shutdown()
    log_file.close()
    print(f"\n2. The same, each with its usual observability ({rounds} rounds x {n} requests).\n"
          "   Bastion full stack: server span (default adaptive sampler, 2 traces/s), built-in\n"
          f"   metrics, start and end request log lines to {log_path}.\n"
          "   Peers: opentelemetry-instrumentation-asgi, always-on sampling, batch exporter.\n")
    _table(results, "bastion bare")
    print()
    for bare, full in (("bastion bare", "bastion full stack"),
                       ("bastion bare", "bastion full, always sample"),
                       ("fastapi bare", "fastapi + otel asgi"),
                       ("litestar bare", "litestar + otel asgi")):
        added = min(results[full]) - min(results[bare])
        print(f"added by {full.split(' ', 1)[1]:<24} ({full.split()[0]}): {added:6.1f} us")
    print("target: Bastion's whole stack adds at most 30 us")


async def secured(rounds: int, n: int, log_path: str) -> None:
    """Scenario 3: the same POST behind an API key, then behind an ES256 JWT."""
    from bastion.log._logger import Logger
    from bastion.otel._telemetry import configure

    log_file = open(log_path, "w")  # noqa: SIM115 - closed below
    print(f"\n3. The same POST, secured ({rounds} rounds x {n} requests). Bastion bare\n"
          "   (observe=False) and with its whole default stack (as in 2., brute-force\n"
          "   lockout on in both); FastAPI and Litestar bare, checking the same credential:\n"
          "   the X-API-Key header's digest looked up, or the bearer token verified by PyJWT.\n"
          "   Every request carries the same credential: a client holding its key or token.")
    for security, label in (("apikey", "API key"), ("jwt", "ES256 JWT")):
        telemetry = configure("bench", "1", env={})
        apps = {
            f"bastion bare, {label}": scenario.bastion_app(security=security),
            f"bastion full, {label}": scenario.bastion_app(
                security=security, full=True, telemetry=telemetry,
                logger=Logger(stream=log_file, format="json")),
            f"fastapi, {label}": scenario.fastapi_app(security=security),
            f"litestar, {label}": scenario.litestar_app(security=security),
        }
        creds = scenario.credentials(security)
        results = await _measure(apps, rounds, n, {name: creds for name in apps})
        telemetry.shutdown()
        print()
        _table(results, f"bastion bare, {label}")
        litestar = min(results[f"litestar, {label}"])
        fastapi = min(results[f"fastapi, {label}"])
        for kind in ("bare", "full"):
            ours = min(results[f"bastion {kind}, {label}"])
            print(f"litestar / bastion {kind} = {litestar / ours:5.2f}   "
                  f"fastapi / bastion {kind} = {fastapi / ours:5.2f}")
    log_file.close()


async def grpc_call(rounds: int, n: int, log_path: str) -> None:
    """A unary gRPC call against a hand-written grpcio servicer (bench/grpc.py)."""
    from bench import grpc as grpc_bench

    await grpc_bench.main(max(rounds * 8, 20), min(n, 250))


SCENARIOS = {"foundation": foundation, "observability": observability, "secured": secured,
             "grpc": grpc_call}


async def main(rounds: int, n: int, log_path: str, only: list[str]) -> None:
    for name in only or list(SCENARIOS):
        if name == "foundation":
            await foundation(rounds, n)
        else:
            await SCENARIOS[name](rounds, n, log_path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--log", default="/tmp/bastion-bench.log", help="request log file")
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), default=[],
                        help="run only this scenario (repeatable)")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.n, args.log, args.only))
