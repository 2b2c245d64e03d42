"""Stock grpcio clients for the gRPC tests: protos compiled by grpcio-tools, a served App.

`compile_protos` runs `bastion gen proto`'s output through grpcio-tools' protoc, as a user
would, and imports the generated `_pb2` / `_pb2_grpc` modules. `serve_grpc` runs an App
with Bastion's own server in the test's event loop, on free 127.0.0.1 ports.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import importlib.resources
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from google.rpc import error_details_pb2, status_pb2

from bastion.dsl.expr import APIExpr
from bastion.grpc import proto_files
from bastion.server import Server, ServerOptions

_COMPILED: dict[str, tuple[str, dict[str, ModuleType]]] = {}
_ROOT = Path(tempfile.mkdtemp(prefix="bastion-protos-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def protoc(args: list[str]) -> int:
    """Run grpcio-tools' protoc with the well-known types on the include path."""
    from grpc_tools import protoc as tool

    include = str(importlib.resources.files("grpc_tools") / "_proto")
    return int(tool.main(["protoc", f"-I{include}", *args]))


def compile_protos(api: APIExpr) -> dict[str, ModuleType]:
    """The generated modules of each service's file: {"<package>_pb2": ..., "..._grpc": ...}.

    Generated modules register in protobuf's default pool, so each package is compiled
    once per test session (and must not change within it).
    """
    files = proto_files(api)
    out: dict[str, ModuleType] = {}
    for f in files:
        text = f.text()
        known = _COMPILED.get(f.filename)
        if known is not None:
            if known[0] != text:
                raise RuntimeError(f"{f.filename} changed within the session")
            out.update(known[1])
            continue
        path = _ROOT / f.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        status = protoc([f"-I{_ROOT}", f"--python_out={_ROOT}", f"--grpc_python_out={_ROOT}",
                         str(path)])
        if status != 0:
            raise RuntimeError(f"protoc failed on {f.filename}:\n{text}")
        if str(_ROOT) not in sys.path:
            sys.path.insert(0, str(_ROOT))
        stem = f.filename.removesuffix(".proto").replace("/", ".")
        modules = {name: importlib.import_module(stem + suffix)
                   for name, suffix in (("pb2", "_pb2"), ("grpc", "_pb2_grpc"))}
        modules = {f"{f.package}.{k}": v for k, v in modules.items()}
        _COMPILED[f.filename] = (text, modules)
        out.update(modules)
    return out


@dataclass
class Served:
    """An App served in the test's loop: its server, its gRPC target and HTTP URL."""

    server: Server
    target: str
    url: str


@contextlib.asynccontextmanager
async def serve_grpc(app: Any, **options: Any) -> AsyncIterator[Served]:
    """Serve `app` over HTTP and gRPC on free loopback ports until the block ends."""
    base = ServerOptions(http_host="127.0.0.1", http_port=0, admin_host=None,
                         grpc_host="127.0.0.1", grpc_port=0, grpc_reflection="on",
                         shutdown_timeout=5.0)
    server = Server(app, replace(base, **options), announce=False)
    task = asyncio.ensure_future(server.serve(handle_signals=False))
    for _ in range(200):
        if "grpc" in server.urls or task.done():
            break
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # raises what the start raised
    target = server.urls["grpc"].split("//", 1)[1]
    try:
        yield Served(server, target, server.urls["api"])
    finally:
        server.begin_shutdown()
        await asyncio.wait_for(task, 30)


def bearer(*scopes: str) -> list[tuple[str, str]]:
    """Metadata carrying a real JWT of the shop with `scopes`."""
    from tests.support.grpc_shop import token as token_for

    return [("authorization", f"Bearer {token_for(*scopes)}")]


def details(err: Any) -> dict[str, Any]:
    """The status details a stock client reads: Goa's error, ErrorInfo, BadRequest..."""
    raw = dict(err.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    assert status.code == err.code().value[0]
    out: dict[str, Any] = {"message": status.message}
    for any_ in status.details:
        name = any_.type_url.rsplit("/", 1)[-1]
        if name == "google.rpc.ErrorInfo":
            info = error_details_pb2.ErrorInfo()
            any_.Unpack(info)
            out["info"] = info
        elif name == "google.rpc.BadRequest":
            bad = error_details_pb2.BadRequest()
            any_.Unpack(bad)
            out["fields"] = {v.field: v.description for v in bad.field_violations}
        elif name == "google.rpc.RetryInfo":
            retry = error_details_pb2.RetryInfo()
            any_.Unpack(retry)
            out["retry"] = retry.retry_delay.seconds
        else:
            out.setdefault("other", []).append(name)
    return out
