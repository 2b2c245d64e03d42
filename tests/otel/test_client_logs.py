"""The traced client's log lines, as Clue's `log.Client`: failed calls are errors.

The called service is a real server on 127.0.0.1; the lines are read from a real
Logger. Tracing details of the client are in test_client.py.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bastion import log
from bastion.otel import Telemetry
from bastion.otel._client import client, sync_client
from bastion.types import Receive, Scope, Send
from tests.support.logs import json_lines, memory_logger
from tests.support.servers import free_port
from tests.support.telemetry import traced
from tests.support.threaded import serve_in_thread

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-0123456789"


async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """The called service: /status/{code} answers that status."""
    if scope["type"] != "http":
        return
    status = int(scope["path"].rsplit("/", 1)[1])
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serve_in_thread(upstream) as p:
        yield p


@pytest.fixture
def telemetry() -> Iterator[tuple[Telemetry, InMemorySpanExporter]]:
    with traced("orders") as pair:
        yield pair


def buffered_logger(**kw: Any) -> tuple[log.Logger, io.StringIO]:
    return memory_logger(format="json", buffer_requests=True, **kw)


async def test_a_5xx_is_an_error_line_that_flushes_the_buffered_request(port: int) -> None:
    logger, out = buffered_logger()
    async with client(base_url=f"http://127.0.0.1:{port}") as http:
        with log.use(logger), log.RequestContext(fields={"request_id": "r-1"}):
            log.info("checking stock")
            assert (await http.get("/status/200")).status_code == 200
            assert out.getvalue() != ""  # a call's line is written, as Clue's Print
            response = await http.get("/status/503")
    assert response.status_code == 503
    ok, checking, failed = json_lines(out)
    assert (ok["msg"], ok["level"]) == ("client request", "info")
    # The upstream failure wrote the request's held line before itself.
    assert checking["msg"] == "checking stock"
    assert (failed["msg"], failed["level"]) == ("client request failed", "error")
    assert failed["err"] == "503 Service Unavailable"
    assert failed["error.type"] == "503" and failed["http.response.status_code"] == 503
    assert all(line["request_id"] == "r-1" for line in (ok, checking, failed))


async def test_a_transport_error_is_an_error_line_that_flushes_the_request() -> None:
    logger, out = buffered_logger()
    async with client() as http:
        with log.use(logger), log.RequestContext(fields={"request_id": "r-2"}):
            log.info("calling")
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{free_port()}/status/200")
    calling, failed = json_lines(out)
    assert calling["msg"] == "calling"
    assert failed["level"] == "error" and failed["error.type"] == "httpx.ConnectError"
    assert failed["err"].startswith("ConnectError")


async def test_which_statuses_are_failures_is_the_clients_option(port: int) -> None:
    logger, out = buffered_logger()
    base = f"http://127.0.0.1:{port}"
    async with client(base_url=base) as default, client(
        base_url=base, error_status=lambda status: status >= 400
    ) as strict:
        with log.use(logger), log.RequestContext():
            await default.get("/status/404")  # the caller's mistake: not an upstream failure
            await strict.get("/status/404")
    assert [(r["level"], r["http.response.status_code"]) for r in json_lines(out)] == [
        ("info", 404),
        ("error", 404),
    ]


def test_the_sync_client_logs_the_same_way(port: int) -> None:
    logger, out = buffered_logger()
    with sync_client(base_url=f"http://127.0.0.1:{port}") as http, log.use(logger):
        with log.RequestContext():
            http.get("/status/502")
    (failed,) = json_lines(out)
    assert failed["level"] == "error" and failed["err"] == "502 Bad Gateway"


async def test_httpx_own_line_is_not_written_for_calls_bastion_logs(port: int) -> None:
    logger, out = buffered_logger()
    uninstall = log.route_stdlib(logger, level=logging.INFO)
    try:
        async with client(base_url=f"http://127.0.0.1:{port}") as traced, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}"
        ) as plain:
            with log.use(logger):
                await traced.get(f"/status/200?api_key={SECRET}")
                await plain.get(f"/status/200?api_key={SECRET}")
    finally:
        uninstall()
    ours, theirs = json_lines(out)
    assert ours["msg"] == "client request"
    # A plain httpx client's line still comes through the routing, redacted.
    assert theirs["logger"] == "httpx" and theirs["msg"].startswith("HTTP Request: GET ")
    assert "api_key=REDACTED" in theirs["msg"]
    assert SECRET not in out.getvalue()


async def test_the_current_loggers_names_are_redacted_in_lines_and_spans(
    port: int, telemetry: tuple[Telemetry, InMemorySpanExporter]
) -> None:
    t, exporter = telemetry
    logger, out = buffered_logger(redact=["account"])  # as the App adds its design's names
    async with client(telemetry=t, base_url=f"http://127.0.0.1:{port}") as http:
        with log.use(logger):
            await http.get(f"/status/200?Account={SECRET}&tok%65n={SECRET}&n=1")
    (line,) = json_lines(out)
    assert line["url.full"].endswith("/status/200?Account=REDACTED&tok%65n=REDACTED&n=1")
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["url.full"] == line["url.full"]
    assert SECRET not in out.getvalue()
