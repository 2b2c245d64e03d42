"""A real Prometheus server scrapes /metrics of an app served by Bastion's server on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from bastion.otel._prometheus import metrics_app
from bastion.otel._telemetry import configure
from bastion.otel._tracing import TracingMiddleware
from bastion.types import ASGIApp, Receive, Scope, Send
from tests.support.prometheus import prometheus_server
from tests.support.threaded import serve_in_thread

pytestmark = pytest.mark.integration


def orders_service(metrics: ASGIApp) -> ASGIApp:
    """GET /orders/{id} answers 200 (404 for id 0); /metrics is the Prometheus endpoint."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            await metrics(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        scope["bastion.route"] = "/orders/{id}"
        status = 404 if scope["path"] == "/orders/0" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def test_prometheus_scrapes_request_duration_by_route() -> None:
    telemetry = configure("orders", "1", env={})
    app = TracingMiddleware(orders_service(metrics_app(telemetry)), telemetry)
    try:
        with serve_in_thread(app) as port, prometheus_server([f"127.0.0.1:{port}"]) as prom:
            for order in ("1", "2", "3", "0"):
                response = httpx.get(f"http://127.0.0.1:{port}/orders/{order}", timeout=5)
                assert response.status_code in (200, 404)

            query = 'http_server_request_duration_seconds_count{http_route="/orders/{id}"}'
            result = prom.wait_for(query, ready=lambda r: len(r) == 2, timeout=30)
            by_status = {
                row["metric"]["http_response_status_code"]: float(row["value"][1]) for row in result
            }
            assert by_status == {"200": 3.0, "404": 1.0}
            (row,) = [r for r in result if r["metric"]["http_response_status_code"] == "200"]
            assert row["metric"]["http_request_method"] == "GET"
            assert row["metric"]["job"] == "bastion"

            buckets = prom.query(
                'http_server_request_duration_seconds_bucket{http_route="/orders/{id}",'
                'http_response_status_code="200",le="+Inf"}'
            )
            assert [float(b["value"][1]) for b in buckets] == [3.0]
            (target,) = prom.targets()
            assert target["health"] == "up"
    finally:
        telemetry.shutdown()
