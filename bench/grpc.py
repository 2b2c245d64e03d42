"""A unary gRPC call: Bastion's transport against a hand-written grpcio servicer.

Both serve the same `.proto` (the one `bastion gen proto` writes for the design below)
on 127.0.0.1 with grpcio's asyncio server, and validate the same way: amount at least 0,
type one of two values, customer an email, note at most 500 characters; both answer the
created order. The client is a stock grpcio stub in the same process, making one call
at a time, so the difference per call is Bastion's overhead: building and validating the
payload, the endpoint chain, checking and encoding the result — and, with its default
stack on, the span, the metrics and the `start`/`end` log lines.

    make bench BENCH_ARGS="--only grpc"      # or: python -m bench.grpc
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.resources
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ORDER_ID = "6c1ac5b2-2a5f-4a9e-9f5e-0b7c2c6c1e10"
CREATED = "2024-05-01T12:00:00Z"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def design() -> Any:
    """The bench's order creation, over gRPC."""
    from bastion.dsl import (
        API,
        GRPC,
        UUID,
        DateTime,
        Email,
        Field,
        Float64,
        Method,
        NoSecurity,
        Payload,
        Required,
        Result,
        Service,
        String,
        Type,
    )

    with API("grpcbench") as api:
        pass
    with Type("OrderInput") as OrderInput:  # noqa: N806 - named as the design names it
        Field(1, "amount", Float64, minimum=0)
        Field(2, "type", String, enum=["retail", "wholesale"])
        Field(3, "customer", String, format=Email)
        Field(4, "note", String, max_length=500)
        Required("amount", "type", "customer")
    with Type("Order") as Order:  # noqa: N806
        Field(1, "id", String, format=UUID)
        Field(2, "amount", Float64)
        Field(3, "type", String)
        Field(4, "customer", String)
        Field(5, "note", String)
        Field(6, "status", String)
        Field(7, "created_at", String, format=DateTime)
        Required("id", "amount", "type", "customer", "status", "created_at")
    with Service("grpcbench"), Method("create"):
        NoSecurity()
        with Payload():
            Field(1, "order", OrderInput)
            Required("order")
        Result(Order)
        with GRPC():
            pass
    return api


def compile_proto(api: Any) -> tuple[Any, Any]:
    """The messages and stubs of the design, compiled by grpcio-tools."""
    from grpc_tools import protoc

    from bastion.grpc import proto_files

    out = Path(tempfile.mkdtemp(prefix="bastion-bench-"))
    f = proto_files(api)[0]
    (out / f.filename).write_text(f.text())
    include = str(importlib.resources.files("grpc_tools") / "_proto")
    status = protoc.main(["protoc", f"-I{include}", f"-I{out}", f"--python_out={out}",
                          f"--grpc_python_out={out}", str(out / f.filename)])
    if status != 0:
        raise RuntimeError("protoc failed")
    sys.path.insert(0, str(out))
    stem = f.filename.removesuffix(".proto")
    return importlib.import_module(stem + "_pb2"), importlib.import_module(stem + "_pb2_grpc")


def plain_server(pb: Any, pb_grpc: Any) -> Any:
    """A hand-written grpcio servicer doing the same validation, as one would without Bastion."""
    import grpc

    types = {pb.OrderInput.TYPE_RETAIL: "retail", pb.OrderInput.TYPE_WHOLESALE: "wholesale"}

    class Servicer(pb_grpc.GrpcbenchServicer):  # type: ignore[name-defined]
        async def Create(self, request: Any, context: Any) -> Any:
            bad = []
            if not request.HasField("order"):
                bad.append("order: missing")
            else:
                o = request.order
                if o.amount < 0:
                    bad.append("order.amount: must be >= 0")
                if o.type not in types:
                    bad.append("order.type: must be retail or wholesale")
                if not _EMAIL.match(o.customer):
                    bad.append("order.customer: must be an email")
                if o.HasField("note") and len(o.note) > 500:
                    bad.append("order.note: at most 500 characters")
            if bad:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(bad))
            o = request.order
            reply = pb.CreateResponse(id=ORDER_ID, amount=o.amount,
                                      type=types[o.type], customer=o.customer,
                                      status="open")
            reply.created_at.FromJsonString(CREATED)
            if o.HasField("note"):
                reply.note = o.note
            return reply

    server = grpc.aio.server()
    pb_grpc.add_GrpcbenchServicer_to_server(Servicer(), server)
    return server


def bastion_app(api: Any, *, full: bool) -> Any:
    """The same design served by Bastion: bare (observe=False) or with its default stack."""
    import bastion
    from bastion.testing import LogCapture

    class Service:
        async def create(self, p: Any) -> Any:
            o = p.order
            return {"id": ORDER_ID, "amount": o.amount, "type": o.type, "customer": o.customer,
                    "note": o.note, "status": "open", "created_at": CREATED}

    if not full:
        return bastion.App(api, {"grpcbench": Service()}, docs=False, observe=False)
    # The default stack, its log lines written (to memory: the file system is not measured).
    logger = LogCapture(level="info").logger
    return bastion.App(api, {"grpcbench": Service()}, docs=False, logger=logger)


async def _start_bastion(app: Any) -> tuple[Any, str]:
    from bastion.server import Server, ServerOptions

    server = Server(app, ServerOptions(http_host="127.0.0.1", http_port=0, admin_host=None,
                                       grpc_host="127.0.0.1", grpc_port=0,
                                       grpc_reflection="off"), announce=False)
    await server.start()
    return server, server.urls["grpc"].split("//", 1)[1]


async def _calls(stub: Any, request: Any, n: int) -> tuple[float, float]:
    """(CPU, wall) µs per call. CPU time is the process's, grpcio's threads included: on a
    shared machine it moves less than the wall clock, which waits for other processes."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        await stub.Create(request)
    return ((time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6)


async def run(rounds: int, n: int) -> dict[str, tuple[float, float]]:
    """µs per call of each server: grpcio's median, and Bastion's as grpcio's + the median
    paired difference, over `rounds` batches of `n` calls alternating between servers."""
    import grpc

    api = design()
    pb, pb_grpc = compile_proto(api)
    plain = plain_server(pb, pb_grpc)
    plain_port = plain.add_insecure_port("127.0.0.1:0")
    await plain.start()
    bare, bare_target = await _start_bastion(bastion_app(api, full=False))
    full, full_target = await _start_bastion(bastion_app(api, full=True))
    targets = {"grpcio servicer": f"127.0.0.1:{plain_port}", "bastion (bare)": bare_target,
               "bastion (default stack)": full_target}
    request = pb.CreateRequest(order=pb.OrderInput(amount=12.5, type=pb.OrderInput.TYPE_RETAIL,
                                                   customer="ada@example.com", note="n"))
    channels = {name: grpc.aio.insecure_channel(t) for name, t in targets.items()}
    stubs = {name: pb_grpc.GrpcbenchStub(c) for name, c in channels.items()}
    for stub in stubs.values():  # warm up: connections, caches
        reply = await stub.Create(request)
        assert reply.id == ORDER_ID and reply.type == "retail"
        await _calls(stub, request, n)
    # Many short batches, alternating: each Bastion batch is paired with the grpcio batch
    # next to it, and the overhead is the median of those paired differences, so drifts
    # of a shared machine (other processes, frequency) hit both sides of a pair alike.
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in stubs}
    for _ in range(rounds):
        for name, stub in stubs.items():
            times[name].append(await _calls(stub, request, n))
    base = times["grpcio servicer"]
    best: dict[str, tuple[float, float]] = {}
    for name, values in times.items():
        pair = []
        for k in (0, 1):
            base_k = statistics.median(b[k] for b in base)
            pair.append(base_k + statistics.median(v[k] - b[k] for v, b in
                                                   zip(values, base, strict=True)))
        best[name] = (pair[0], pair[1])
    for c in channels.values():
        await c.close()
    await plain.stop(None)
    for server in (bare, full):
        server.begin_shutdown()
        await server.shutdown()
    return best


def report(best: dict[str, tuple[float, float]]) -> None:
    """Print the table, with Bastion's overhead over plain grpcio in µs."""
    base_cpu, base_wall = best["grpcio servicer"]
    print("\nunary gRPC call, one at a time over 127.0.0.1 (medians, µs per call; the client "
          "runs in the same process)")
    print(f"  {'':<26} {'CPU':>9} {'overhead':>9} {'wall':>9} {'overhead':>9}")
    for name, (cpu, wall) in best.items():
        if name == "grpcio servicer":
            print(f"  {name:<26} {cpu:9.1f} {'':>9} {wall:9.1f}")
        else:
            print(f"  {name:<26} {cpu:9.1f} {cpu - base_cpu:+9.1f} {wall:9.1f} "
                  f"{wall - base_wall:+9.1f}")


async def main(rounds: int, n: int) -> None:
    """Run and report."""
    report(await run(rounds, n))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="batches per server")
    parser.add_argument("-n", type=int, default=250, help="calls per batch")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.n))
