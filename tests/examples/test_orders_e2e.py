"""The orders example through a real server process on 127.0.0.1: the whole stack at once.

Each test starts `python -m examples.orders` (what `make demo` runs) on free loopback
ports and talks to it over TCP: the API, the admin listener, OTLP export to a receiver
run by the test, a real Prometheus scraping `/metrics`, and a screening upstream.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from examples.orders.main import DEMO_API_KEY
from examples.orders.mint import mint

from tests.support.orders import demo
from tests.support.otlp import otlp_receiver
from tests.support.paths import ROOT
from tests.support.prometheus import prometheus_server
from tests.support.rawhttp import exchange
from tests.support.servers import HTTPServerThread

pytestmark = pytest.mark.integration

WRITE = {"Authorization": f"Bearer {mint(['orders:write', 'orders:read'])}"}
READ_KEY = {"X-API-Key": DEMO_API_KEY}
ORDER = {"amount": 12.5, "type": "retail", "customer": "ada@example.com", "note": "gift"}


def test_create_show_list_cancel_through_a_real_server(tmp_path: Path) -> None:
    with demo(tmp_path) as d, httpx.Client(base_url=d.api, timeout=10) as c:
        created = c.post("/orders", json=ORDER, headers=WRITE)
        assert created.status_code == 201, created.text
        order = created.json()
        assert order["status"] == "open" and order["amount"] == 12.5
        assert created.headers["x-request-id"]

        shown = c.get(f"/orders/{order['id']}", headers=READ_KEY)
        assert shown.status_code == 200
        assert shown.json() == order
        assert shown.headers["ratelimit-limit"] == "600"

        c.post("/orders", json={**ORDER, "type": "wholesale"}, headers=WRITE)
        page = c.get("/orders", params={"per_page": 1, "page": 2}, headers=READ_KEY).json()
        assert page["total"] == 2 and page["page"] == 2 and len(page["orders"]) == 1
        retail = c.get("/orders", params={"type": "retail"}, headers=READ_KEY).json()
        assert [o["id"] for o in retail["orders"]] == [order["id"]]

        cancelled = c.post(f"/orders/{order['id']}/cancel", headers=WRITE)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = c.post(f"/orders/{order['id']}/cancel", headers=WRITE)
        assert again.status_code == 409 and again.json()["name"] == "already_cancelled"

        missing = c.get("/orders/123e4567-e89b-12d3-a456-426614174000", headers=READ_KEY)
        assert missing.status_code == 404 and missing.json()["field"] == "id"
        bad = c.post("/orders", json={"amount": -1, "type": "x", "customer": "nope"},
                     headers=WRITE)
        assert bad.status_code == 400
        assert [e["field"] for e in bad.json()["errors"]] == ["amount", "type", "customer"]
        assert c.post("/orders", json=ORDER).status_code == 401
        assert c.get("/ping").json() == {"status": "ok"}


def test_what_the_wire_carries_is_read_one_way_only(tmp_path: Path) -> None:
    token = WRITE["Authorization"]
    with demo(tmp_path) as d, httpx.Client(base_url=d.api, timeout=10) as c:
        order = c.post("/orders", json=ORDER, headers=WRITE).json()
        # %2F stays inside the id: this is no cancel of the order (a proxy rule on
        # /orders/*/cancel would not see one either).
        r = exchange(d.port, (
            f"POST /orders/{order['id']}%2Fcancel HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode())
        assert r.status == 405, r.body  # the path is /orders/{id}: GET only
        assert c.get(f"/orders/{order['id']}", headers=READ_KEY).json()["status"] == "open"

        dup = b'{"amount": 2000000, "amount": 1, "type": "retail", "customer": "a@b.co"}'
        r = exchange(d.port, (
            f"POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(dup)}\r\n"
            "Connection: close\r\n\r\n").encode() + dup)
        assert r.status == 400
        assert [(e["field"], e["in"]) for e in json.loads(r.body)["errors"]] == [
            ("amount", "body")]

        zipped = gzip.compress(json.dumps(ORDER).encode())
        created = c.post("/orders", content=zipped, headers={
            **WRITE, "content-type": "application/json", "content-encoding": "gzip"})
        assert created.status_code == 201 and created.json()["note"] == "gift"
        bomb = gzip.compress(b"[" + b" " * (10 << 20) + b"]")
        big = c.post("/orders", content=bomb, headers={
            **WRITE, "content-type": "application/json", "content-encoding": "gzip"})
        assert big.status_code == 413
        brotli = c.post("/orders", content=b"xx", headers={
            **WRITE, "content-type": "application/json", "content-encoding": "br"})
        assert brotli.status_code == 415 and "'br'" in brotli.json()["message"]

        # Every page the design allows is served; past its bound, a 400 names it.
        last = c.get("/orders", params={"page": 1_000_000}, headers=READ_KEY)
        assert last.status_code == 200 and last.json()["orders"] == []
        huge = c.get("/orders", params={"page": 9223372036854775807}, headers=READ_KEY)
        assert huge.status_code == 400
        assert [e["field"] for e in huge.json()["errors"]] == ["page"]
        twice = c.get("/orders?type=retail&type=wholesale", headers=READ_KEY)
        assert twice.status_code == 400
        assert "Traceback" not in d.output()


def test_admin_endpoints_live_on_the_admin_listener_only(tmp_path: Path) -> None:
    with demo(tmp_path) as d, httpx.Client(timeout=10) as c:
        for path in ("/debug", "/metrics", "/debug/pprof/"):
            assert c.get(d.api + path).status_code == 404, path
        assert c.get(d.admin + "/metrics").status_code == 200
        assert c.get(d.admin + "/debug/pprof/").status_code == 200
        assert c.get(d.admin + "/debug", params={"debug-logs": "on"}).json() == {
            "debug-logs": "on"}
        # With debug logs on, the payload line shows up, its token redacted.
        c.get(d.api + "/orders", headers=WRITE)
        health = c.get(d.api + "/healthz").json()
        assert health["status"] == {"database": "OK"}
        deadline = time.monotonic() + 5
        while "payload" not in d.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert '"payload"' in d.output()
        assert WRITE["Authorization"].split()[1] not in d.output()


@dataclass
class Upstream:
    """A screening service on 127.0.0.1 that records the headers it gets."""

    http: HTTPServerThread
    seen: list[dict[str, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        """Its port."""
        return self.http.port

    def stop(self) -> None:
        """Take it down."""
        self.http.stop()


@contextlib.contextmanager
def upstream() -> Iterator[Upstream]:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    with HTTPServerThread(Handler) as server:
        yield Upstream(server, seen)


def test_traces_reach_an_otlp_receiver_with_parents_routes_and_errors(tmp_path: Path) -> None:
    incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    incoming_span = "00f067aa0ba902b7"
    with otlp_receiver() as receiver, upstream() as up, demo(
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_TRACES_SAMPLER="parentbased_always_on",
        OTEL_BSP_SCHEDULE_DELAY="100",
        UPSTREAM_URL=f"http://127.0.0.1:{up.port}",
    ) as d, httpx.Client(base_url=d.api, timeout=10) as c:
        traceparent = f"00-{incoming_trace}-{incoming_span}-01"
        ok = c.post("/orders", json=ORDER, headers={**WRITE, "traceparent": traceparent})
        assert ok.status_code == 201, ok.text
        up.stop()  # the screening service goes away: the next create fails inside
        failed = c.post("/orders", json=ORDER, headers=WRITE)
        assert failed.status_code == 500
        error_id = failed.json()["id"]
        d.process.send_signal(signal.SIGTERM)
        assert d.process.wait(timeout=15) == 0

        spans = receiver.wait_for_spans(
            lambda spans: sum(s.kind == "SERVER" for s in spans) >= 2, timeout=10)
        server = [s for s in spans if s.kind == "SERVER"]
        first = next(s for s in server if s.trace_id == incoming_trace)
        assert first.parent_span_id == incoming_span
        assert first.name == "POST /orders"
        assert first.attributes["http.route"] == "/orders"
        assert first.attributes["http.request.method"] == "POST"
        assert first.attributes["http.response.status_code"] == 201
        assert first.attributes["client.address"] == "127.0.0.1"
        assert first.resource["service.name"] == "orders"
        client = next(s for s in spans if s.kind == "CLIENT" and s.trace_id == incoming_trace)
        assert client.parent_span_id is not None
        # The upstream got the trace: the client span's id travelled in its traceparent.
        assert up.seen[0]["traceparent"] == f"00-{incoming_trace}-{client.span_id}-01"

        broken = next(s for s in server if s.trace_id != incoming_trace)
        assert broken.status_code == "ERROR"
        assert broken.attributes["http.response.status_code"] == 500
        exceptions = [attrs for name, attrs in broken.events if name == "exception"]
        assert exceptions and "ConnectError" in exceptions[0]["exception.type"]
        # The 500's id is the one logged with the stack trace, under the same trace id.
        line = next(x for x in d.output().splitlines() if error_id in x)
        assert '"exception.stacktrace"' in line and broken.trace_id in line


def test_prometheus_scrapes_the_admin_listener(tmp_path: Path) -> None:
    with demo(tmp_path) as d, httpx.Client(base_url=d.api, timeout=10) as c:
        for _ in range(3):
            assert c.get("/orders", headers=READ_KEY).status_code == 200
        with prometheus_server([f"127.0.0.1:{d.admin_port}"]) as prom:
            result = prom.wait_for(
                'http_server_request_duration_seconds_count{http_route="/orders"}',
                timeout=30,
            )
            assert result, prom.log_tail()
            labels = result[0]["metric"]
            assert labels["http_request_method"] == "GET"
            assert labels["http_response_status_code"] == "200"
            assert float(result[0]["value"][1]) >= 3


def test_a_bad_environment_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "READ_TIMEOUT": "soon", "WORKERS": "0",
           "RATE_LIMITS": "orders.create=often"}
    run = subprocess.run([sys.executable, "-m", "examples.orders"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    for name in ("READ_TIMEOUT", "WORKERS", "RATE_LIMITS"):
        assert name in run.stderr
    assert "Traceback" not in run.stderr


def test_what_the_server_limits_answer_is_logged_and_traced(tmp_path: Path) -> None:
    with otlp_receiver() as receiver, demo(
        tmp_path,
        MAX_BODY_BYTES="64",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_TRACES_SAMPLER="parentbased_always_on",
        OTEL_BSP_SCHEDULE_DELAY="100",
    ) as d, httpx.Client(base_url=d.api, timeout=10) as c:
        big = c.post("/orders", json={**ORDER, "note": "x" * 200}, headers=WRITE)
        assert big.status_code == 413
        rid = big.headers["x-request-id"]  # set by the App's request log
        spans = receiver.wait_for_spans(
            lambda spans: any(s.attributes.get("http.response.status_code") == 413
                              for s in spans), timeout=10)
        span = next(s for s in spans if s.attributes.get("http.response.status_code") == 413)
        # The body limit is the method's, applied where its body is read: after routing.
        assert span.name == "POST /orders"
        deadline = time.monotonic() + 5
        while f'"request_id":"{rid}"' not in d.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        end = next(line for line in d.output().splitlines()
                   if f'"request_id":"{rid}"' in line and '"msg":"end"' in line)
        assert '"http.response.status_code":413' in end
