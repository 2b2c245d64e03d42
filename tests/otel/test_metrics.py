"""BuiltinMetrics: pre-bound cells, bucket placement, merging into readers, security counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, MetricsData

from bastion.otel._metrics import DURATION_BUCKETS, BuiltinMetrics
from bastion.otel._telemetry import Telemetry, configure


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def telemetry(reader: InMemoryMetricReader) -> Iterator[Telemetry]:
    t = configure("orders", "1", env={}, metric_readers=[reader])
    yield t
    t.shutdown()


def points(data: MetricsData | None, name: str) -> list[Any]:
    assert data is not None
    return [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    ]


def request(
    metrics: BuiltinMetrics,
    duration: float,
    route: str = "/orders/{id}",
    status: int = 200,
    method: str = "GET",
) -> None:
    active = metrics.active(method, "http")
    metrics.started(active)
    cell = metrics.cell(method, route, status, scheme="http", protocol_version="1.1")
    metrics.finished(active, cell, duration, 10, 200)


def test_cells_are_bound_once_per_attribute_set(telemetry: Telemetry) -> None:
    m = telemetry.metrics
    a = m.cell("GET", "/orders/{id}", 200)
    assert m.cell("GET", "/orders/{id}", 200) is a
    assert m.cell("GET", "/orders/{id}", 404) is not a
    assert a.attributes == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "http.route": "/orders/{id}",
        "http.response.status_code": 200,
    }
    assert "http.route" not in m.cell("GET", None, 404).attributes


def test_bucket_bounds_are_inclusive_as_in_prometheus(telemetry: Telemetry) -> None:
    m = telemetry.metrics
    for duration in (0.005, 0.0051, 10.0, 11.0):
        request(m, duration)
    (point,) = [
        p
        for mt in m.metrics()
        if mt.name == "http.server.request.duration"
        for p in mt.data.data_points
        if isinstance(p, HistogramDataPoint)
    ]
    assert list(point.explicit_bounds) == list(DURATION_BUCKETS)
    counts = list(point.bucket_counts)
    assert counts[0] == 1  # 0.005 is in le=0.005
    assert counts[1] == 1  # 0.0051 is in le=0.01
    assert counts[len(DURATION_BUCKETS) - 1] == 1  # 10.0 is in le=10
    assert counts[-1] == 1  # 11.0 only in +Inf
    assert point.count == 4
    assert point.min == 0.005
    assert point.max == 11.0
    assert point.sum == pytest.approx(0.005 + 0.0051 + 10.0 + 11.0)


def test_builtin_metrics_reach_any_reader_with_user_metrics(
    telemetry: Telemetry, reader: InMemoryMetricReader
) -> None:
    telemetry.meter_provider.get_meter("orders").create_counter("orders.created").add(3)
    request(telemetry.metrics, 0.02)
    request(telemetry.metrics, 0.03, status=500)

    data = reader.get_metrics_data()
    (created,) = points(data, "orders.created")
    assert created.value == 3
    durations = {
        p.attributes["http.response.status_code"]: p.count
        for p in points(data, "http.server.request.duration")
    }
    assert durations == {200: 1, 500: 1}
    assert [p.sum for p in points(data, "http.server.request.body.size")] == [10, 10]
    assert [p.value for p in points(data, "http.server.active_requests")] == [0]
    # Cumulative: a second collection still counts everything.
    request(telemetry.metrics, 0.02)
    again = {
        p.attributes["http.response.status_code"]: p.count
        for p in points(reader.get_metrics_data(), "http.server.request.duration")
    }
    assert again == {200: 2, 500: 1}


def test_no_requests_means_no_http_metrics(
    telemetry: Telemetry, reader: InMemoryMetricReader
) -> None:
    telemetry.meter_provider.get_meter("orders").create_counter("orders.created").add(1)
    data = reader.get_metrics_data()
    assert points(data, "http.server.request.duration") == []
    assert len(points(data, "orders.created")) == 1


def test_attribute_sets_beyond_the_limit_overflow_into_one_cell() -> None:
    t = configure("orders", "1", env={})
    try:
        m = BuiltinMetrics(t.meter, cardinality_limit=3)
        cells = {m.cell("GET", f"/r{i}", 200) for i in range(10)}
        assert len(cells) == 4
        overflow = m.cell("GET", "/r99", 200)
        assert overflow.attributes == {"otel.metric.overflow": True}
    finally:
        t.shutdown()


def test_auth_failures_and_rate_limit_rejections_are_counted(
    telemetry: Telemetry, reader: InMemoryMetricReader
) -> None:
    m = telemetry.metrics
    m.auth_failure("jwt", "expired")
    m.auth_failure("jwt", "expired")
    m.auth_failure("api_key", "missing")
    m.ratelimit_rejected("api_key")

    data = reader.get_metrics_data()
    failures = {
        (p.attributes["scheme"], p.attributes["reason"]): p.value
        for p in points(data, "bastion.auth.failures")
    }
    assert failures == {("jwt", "expired"): 2, ("api_key", "missing"): 1}
    (rejected,) = points(data, "bastion.ratelimit.rejected")
    assert rejected.attributes == {"scheme": "api_key"}
    assert rejected.value == 1


def test_two_telemetries_keep_separate_metrics() -> None:
    first, second = InMemoryMetricReader(), InMemoryMetricReader()
    a = configure("a", "1", env={}, metric_readers=[first])
    b = configure("b", "1", env={}, metric_readers=[second])
    try:
        request(a.metrics, 0.01)
        assert len(points(first.get_metrics_data(), "http.server.request.duration")) == 1
        # (Global observable instruments from other tests may be there; HTTP metrics not.)
        other = second.get_metrics_data()
        assert other is None or points(other, "http.server.request.duration") == []
    finally:
        a.shutdown()
        b.shutdown()
