"""Prometheus exposition: name mapping, a golden rendering, escaping, promtool, the endpoint."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from bastion.otel._prometheus import CONTENT_TYPE, metrics_app, prometheus_name, render
from bastion.otel._telemetry import Telemetry, configure
from tests.support.asgi import asgi_client


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = configure("orders", "1", env={})
    yield t
    t.shutdown()


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
        ("http.server.active_requests", "{request}", "gauge", "http_server_active_requests"),
        ("http.server.request.body.size", "By", "histogram", "http_server_request_body_size_bytes"),
        ("bastion.auth.failures", "{failure}", "counter", "bastion_auth_failures_total"),
        ("orders.total", "", "counter", "orders_total"),
        ("queue.latency_seconds", "s", "histogram", "queue_latency_seconds"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("net.throughput", "By/s", "gauge", "net_throughput_bytes_per_second"),
        ("jobs.done", "1", "counter", "jobs_done_total"),
        ("weird-name/with spaces", "", "gauge", "weird_name_with_spaces"),
        ("9lives", "", "gauge", "_9lives"),
    ],
)
def test_prometheus_names(name: str, unit: str, kind: str, expected: str) -> None:
    assert prometheus_name(name, unit, kind) == expected


def _family(text: str, name: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith(name) or line.endswith(f" {name}") or f" {name} " in line
    ]


def test_rendering_of_the_request_duration_histogram(telemetry: Telemetry) -> None:
    m = telemetry.metrics
    active = m.active("GET", "http")
    for duration in (0.004, 0.3, 0.3, 12.0):
        m.started(active)
        cell = m.cell("GET", "/orders/{id}", 200, scheme="http", protocol_version="1.1")
        m.finished(active, cell, duration, 0, 512)

    assert telemetry.prometheus is not None
    text = telemetry.prometheus.render().decode()
    # prometheus_client writes labels sorted and values as floats, as Prometheus' own
    # clients do.
    labels = (
        'http_request_method="GET",http_response_status_code="200",http_route="/orders/{id}",'
    )
    tail = 'network_protocol_version="1.1",url_scheme="http"'
    bounds = [
        "0.005",
        "0.01",
        "0.025",
        "0.05",
        "0.075",
        "0.1",
        "0.25",
        "0.5",
        "0.75",
        "1.0",
        "2.5",
        "5.0",
        "7.5",
        "10.0",
        "+Inf",
    ]
    cumulative = [1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 4]
    expected = [
        "# HELP http_server_request_duration_seconds Duration of HTTP server requests.",
        "# TYPE http_server_request_duration_seconds histogram",
        *(
            f'http_server_request_duration_seconds_bucket{{{labels}le="{le}",{tail}}} {n}.0'
            for le, n in zip(bounds, cumulative, strict=True)
        ),
        f"http_server_request_duration_seconds_count{{{labels}{tail}}} 4.0",
        f"http_server_request_duration_seconds_sum{{{labels}{tail}}} 12.604",
    ]
    assert _family(text, "http_server_request_duration_seconds") == expected
    assert "# TYPE http_server_active_requests gauge" in text
    assert 'http_server_active_requests{http_request_method="GET",url_scheme="http"} 0.0' in text
    assert "# TYPE http_server_response_body_size_bytes histogram" in text
    assert f"http_server_response_body_size_bytes_sum{{{labels}{tail}}} 2048.0" in text
    assert text.startswith("# HELP target_info")
    assert 'service_name="orders"' in text
    assert text.endswith("\n")


def test_counters_gauges_and_escaping(telemetry: Telemetry) -> None:
    meter = telemetry.meter_provider.get_meter("orders")
    meter.create_counter("orders.created", unit="{order}", description='Orders "created"\nok').add(
        2, {"customer.tier": 'gold "vip"\\x\n'}
    )
    meter.create_up_down_counter("orders.open", description="Open orders.").add(-3, {"ok": True})

    assert telemetry.prometheus is not None
    text = telemetry.prometheus.render().decode()
    assert '# HELP orders_created_total Orders "created"\\nok' in text
    assert "# TYPE orders_created_total counter" in text
    assert 'orders_created_total{customer_tier="gold \\"vip\\"\\\\x\\n"} 2.0' in text
    assert "# TYPE orders_open gauge" in text
    assert 'orders_open{ok="true"} -3.0' in text
    assert promtool(text) == (0, "")


def test_empty_collection_renders_nothing() -> None:
    assert render(None) == ""


def promtool(text: str) -> tuple[int, str]:
    """Run `promtool check metrics` on an exposition; return its exit status and output."""
    exe = shutil.which("promtool")
    if exe is None:
        raise RuntimeError("promtool is not installed: `apt-get install prometheus`")
    done = subprocess.run(
        [exe, "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).decode().strip()


@pytest.mark.integration
async def test_an_apps_metrics_pass_promtool() -> None:
    import bastion
    from bastion.dsl import API, GET, HTTP, Attribute, Method, Payload, Result, Service, String
    from bastion.testing import TestClient

    with API("shop") as api:
        pass
    with Service("items"), Method("show"):
        with Payload():
            Attribute("id", String)
        Result(String)
        with HTTP():
            GET("/items/{id}")

    class Items:
        async def show(self, p: object) -> str:
            return "item"

    app = bastion.App(api, {"items": Items()}, observe=bastion.Observe(request_log=False))
    async with TestClient(app) as client:
        for path in ("/items/1", "/items/2", "/nowhere", "/items/3?x=1"):
            await client.get(path)
    app.telemetry.metrics.auth_failure("api_key", "invalid")
    assert app.telemetry.prometheus is not None
    text = app.telemetry.prometheus.render().decode()
    assert 'http_route="/items/{id}"' in text
    assert promtool(text) == (0, "")
    openmetrics, content_type = app.telemetry.prometheus.exposition(
        "application/openmetrics-text; version=1.0.0"
    )
    assert content_type.startswith("application/openmetrics-text")
    assert openmetrics.endswith(b"# EOF\n")
    app.telemetry.shutdown()


async def test_metrics_app_serves_the_text_format(telemetry: Telemetry) -> None:
    telemetry.metrics.auth_failure("jwt", "invalid")
    async with asgi_client(metrics_app(telemetry)) as client:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == CONTENT_TYPE
        assert 'bastion_auth_failures_total{reason="invalid",scheme="jwt"} 1.0' in response.text

        head = await client.head("/metrics")
        assert head.status_code == 200
        assert head.content == b""

        post = await client.post("/metrics")
        assert post.status_code == 405
        assert post.headers["allow"] == "GET, HEAD"


async def test_apps_do_not_see_each_others_metrics() -> None:
    a = configure("a", "1", env={})
    b = configure("b", "1", env={})
    try:
        a.metrics.ratelimit_rejected("api_key")
        assert a.prometheus is not None
        assert b.prometheus is not None
        assert "bastion_ratelimit_rejected_total" in a.prometheus.render().decode()
        assert "bastion_ratelimit_rejected_total" not in b.prometheus.render().decode()
    finally:
        a.shutdown()
        b.shutdown()


def test_metrics_app_needs_a_prometheus_reader() -> None:
    t = configure("orders", "1", env={}, prometheus=False)
    try:
        with pytest.raises(ValueError, match="prometheus=False"):
            metrics_app(t)
    finally:
        t.shutdown()
