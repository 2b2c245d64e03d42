"""Helpers for the runtime tests: quiet apps, a raw ASGI driver that counts body reads."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bastion
from bastion.dsl import APIExpr
from bastion.dsl.expr import MethodExpr
from bastion.endpoint import MethodInfo
from bastion.log._logger import Logger
from bastion.operations import Operation, payload_type_of, result_type_of
from bastion.schema.compile import TypeCompiler
from bastion.schema.validate import Collector
from bastion.testing import TestClient
from bastion.types import ASGIApp, Endpoint, Message


def quiet_app(api: APIExpr, services: Mapping[str, object], **kwargs: Any) -> bastion.App:
    """An `App` whose logs go to a string (read them back with `log_lines(app)`)."""
    stream = io.StringIO()
    kwargs.setdefault("logger", Logger(format="json", stream=stream, sync=True))
    kwargs.setdefault("observe", bastion.Observe(route_stdlib_logs=False))
    app = bastion.App(api, services=services, **kwargs)
    app._test_log = stream  # type: ignore[attr-defined]
    return app


def log_lines(app: bastion.App) -> list[dict[str, Any]]:
    """The JSON log lines `app` has written so far."""
    stream: io.StringIO = app._test_log  # type: ignore[attr-defined]
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def client(app: ASGIApp) -> TestClient:
    """Bastion's in-process test client for `app`."""
    return TestClient(app)


@dataclass
class Wire:
    """An ASGI `receive` that serves a request body in chunks and counts what was pulled."""

    chunks: Sequence[bytes] = ()
    pulled: int = 0  # body chunks (http.request messages) handed to the app
    calls: int = 0

    async def receive(self) -> Message:
        self.calls += 1
        if not self.chunks and self.calls == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        if self.pulled < len(self.chunks):
            i = self.pulled
            self.pulled += 1
            return {
                "type": "http.request",
                "body": self.chunks[i],
                "more_body": i < len(self.chunks) - 1,
            }
        return {"type": "http.disconnect"}


@dataclass
class Reply:
    """What an app sent back through a raw ASGI call."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    wire: Wire | None = None,
    headers: Sequence[tuple[str, str]] = (),
    query: str = "",
) -> Reply:
    """Call `app` once over raw ASGI and collect its response."""
    reply = Reply()
    wire = wire if wire is not None else Wire()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])
            }
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")

    await app(scope, wire.receive, send)
    return reply


def operation_for(method: MethodExpr, compiler: TypeCompiler,
                  call: Endpoint | None = None) -> Operation:
    """The `Operation` of one design method, its call a raw endpoint (no middleware)."""
    info = MethodInfo.of(method, payload_type_of(method, compiler),
                         result_type_of(method, compiler))
    op = Operation(method, info, Collector(compiler), secured=False)
    if call is not None:
        op.call = call
    return op
