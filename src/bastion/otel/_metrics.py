"""Bastion's built-in metrics: HTTP server metrics with pre-bound attributes, security counters.

Recording a measurement through the OpenTelemetry SDK validates and hashes the attribute
set and walks its reader storages every time: about 6 µs per call, 25-30 µs for the
four HTTP instruments of one request. The HTTP server instruments here are aggregated by
Bastion instead: attributes are bound once per (method, route, status, ...) key to a
cell, and a request adds to its cell's counters in one call: the C cells of
`bastion.otel._native` when they are built (no lock: the GIL keeps each call whole), the
Python cells below otherwise (under a lock), number for number the same. `Telemetry`
merges the cells into every collection the SDK makes, so they reach OTLP, Prometheus and
any reader like instruments created with `meter.create_histogram`.

Security counters (auth failures, rate-limit rejections) are on the error path and use
the SDK instruments, with their attribute dicts cached.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from time import time_ns
from typing import Final, Protocol

from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.util.types import AnyValue

from bastion.otel._accel import NATIVE

__all__ = [
    "BODY_SIZE_BUCKETS",
    "DURATION_BUCKETS",
    "ActiveCount",
    "BuiltinMetrics",
    "RequestCell",
]

#: Boundaries (seconds) the HTTP semantic conventions advise for `http.server.request.duration`.
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
#: Boundaries (bytes) for the body size histograms: powers of 4 from 64 B to 16 MiB.
BODY_SIZE_BUCKETS: Final = (
    0.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
)
#: Past this many attribute sets, measurements go to one `otel.metric.overflow` cell,
#: as the SDK does: a client sending random methods or paths cannot exhaust memory.
CARDINALITY_LIMIT: Final = 2000

_INF = float("inf")
_OVERFLOW_KEY: Final = ("_OVERFLOW_",)
_OVERFLOW_ATTRS: Final[dict[str, AnyValue]] = {"otel.metric.overflow": True}


_Snap = tuple[list[int], float, float, float]


class ActiveCount(Protocol):
    """The requests in flight of one (method, scheme): `http.server.active_requests`."""

    @property
    def attributes(self) -> dict[str, AnyValue]: ...
    @property
    def value(self) -> int: ...
    def enter(self) -> None:
        """Count one more request in flight."""


class RequestCell(Protocol):
    """The HTTP server histograms of one attribute set; obtained from `BuiltinMetrics.cell`."""

    @property
    def attributes(self) -> dict[str, AnyValue]: ...
    @property
    def count(self) -> int: ...
    def record(self, active: ActiveCount, duration: float, request_bytes: int,
               response_bytes: int) -> None:
        """Count one request out of `active` and into this cell."""

    def snapshot(self) -> tuple[int, tuple[_Snap, _Snap, _Snap]]:
        """The count and the (buckets, sum, min, max) of duration, request and response size."""


# -- the Python cells: what the C cells do, when they are not built ----------------------

_PY_LOCK = threading.Lock()


class _Distribution:
    """Explicit-bucket histogram state of one attribute set."""

    __slots__ = ("bounds", "buckets", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.min = _INF
        self.max = -_INF

    def add(self, value: float) -> None:
        # Upper bounds are inclusive (OpenTelemetry and Prometheus `le`): bisect_left.
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def snap(self) -> _Snap:
        return (list(self.buckets), self.sum, self.min, self.max)


class _PyActive:
    __slots__ = ("attributes", "value")

    def __init__(self, attributes: dict[str, AnyValue]) -> None:
        self.attributes = attributes
        self.value = 0

    def enter(self) -> None:
        with _PY_LOCK:
            self.value += 1


class _PyCell:
    __slots__ = ("attributes", "count", "duration", "request_size", "response_size")

    def __init__(self, attributes: dict[str, AnyValue]) -> None:
        self.attributes = attributes
        self.count = 0
        self.duration = _Distribution(DURATION_BUCKETS)
        self.request_size = _Distribution(BODY_SIZE_BUCKETS)
        self.response_size = _Distribution(BODY_SIZE_BUCKETS)

    def record(self, active: ActiveCount, duration: float, request_bytes: int,
               response_bytes: int) -> None:
        with _PY_LOCK:
            active.value -= 1  # type: ignore[misc] # a _PyActive: the two kinds never mix
            self.count += 1
            self.duration.add(duration)
            self.request_size.add(request_bytes)
            self.response_size.add(response_bytes)

    def snapshot(self) -> tuple[int, tuple[_Snap, _Snap, _Snap]]:
        with _PY_LOCK:
            return self.count, (self.duration.snap(), self.request_size.snap(),
                                self.response_size.snap())


#: Makes the in-flight count of an attribute set, and the cell of one.
new_active: Callable[[dict[str, AnyValue]], ActiveCount]
new_cell: Callable[[dict[str, AnyValue]], RequestCell]
if NATIVE is not None:
    new_active = NATIVE.Active
    new_cell = partial(NATIVE.Cell, duration_bounds=DURATION_BUCKETS, size_bounds=BODY_SIZE_BUCKETS)
else:
    new_active, new_cell = _PyActive, _PyCell


# (name, description, unit, index of the snapshot in a row, bounds)
_HISTOGRAMS: Final = (
    ("http.server.request.duration", "Duration of HTTP server requests.", "s", 0, DURATION_BUCKETS),
    (
        "http.server.request.body.size",
        "Size of HTTP server request bodies.",
        "By",
        1,
        BODY_SIZE_BUCKETS,
    ),
    (
        "http.server.response.body.size",
        "Size of HTTP server response bodies.",
        "By",
        2,
        BODY_SIZE_BUCKETS,
    ),
)


#: Methods the HTTP semantic conventions know; any other is "_OTHER" (bounded series).
KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)


class BuiltinMetrics:
    """The instruments every Bastion app records; one per `Telemetry`.

    HTTP server metrics (semantic-convention names, units and attributes):
    `http.server.request.duration` (s), `http.server.active_requests`,
    `http.server.request.body.size` and `http.server.response.body.size` (By).
    Security: `bastion.auth.failures` and `bastion.ratelimit.rejected` counters.
    """

    def __init__(self, meter: Meter, *, cardinality_limit: int = CARDINALITY_LIMIT) -> None:
        self.scope = InstrumentationScope(meter.name, meter.version, meter.schema_url)
        self._lock = threading.Lock()
        self._cells: dict[tuple[object, ...], RequestCell] = {}
        self._active: dict[tuple[str, str], ActiveCount] = {}
        self._limit = cardinality_limit
        self._start = time_ns()
        self._auth_failures = meter.create_counter(
            "bastion.auth.failures",
            unit="{failure}",
            description="Requests rejected by authentication or authorization.",
        )
        self._ratelimit_rejected = meter.create_counter(
            "bastion.ratelimit.rejected",
            unit="{request}",
            description="Requests rejected by a rate limit.",
        )
        self._auth_attrs: dict[tuple[str, str], dict[str, AnyValue]] = {}
        self._ratelimit_attrs: dict[str, dict[str, AnyValue]] = {}

    # -- HTTP server (hot path) ----------------------------------------------------------

    def cell(
        self,
        method: str,
        route: str | None,
        status: int,
        *,
        scheme: str = "http",
        protocol_version: str | None = None,
        error_type: str | None = None,
    ) -> RequestCell:
        """Return the cell of this attribute set, creating it on first use."""
        key = (method, route, status, scheme, protocol_version, error_type)
        cell = self._cells.get(key)
        if cell is not None:
            return cell
        with self._lock:
            cell = self._cells.get(key)
            if cell is None:
                if len(self._cells) >= self._limit:
                    cell = self._cells.get(_OVERFLOW_KEY)
                    if cell is None:
                        cell = self._cells[_OVERFLOW_KEY] = new_cell(_OVERFLOW_ATTRS)
                    return cell
                attrs: dict[str, AnyValue] = {"http.request.method": method, "url.scheme": scheme}
                if route is not None:
                    attrs["http.route"] = route
                if status:  # 0: the request ended before a response started
                    attrs["http.response.status_code"] = status
                if protocol_version is not None:
                    attrs["network.protocol.version"] = protocol_version
                if error_type is not None:
                    attrs["error.type"] = error_type
                cell = self._cells[key] = new_cell(attrs)
        return cell

    def active(self, method: str, scheme: str) -> ActiveCount:
        """Return the in-flight counter of (method, scheme) for `started`/`finished`."""
        key = (method, scheme)
        active = self._active.get(key)
        if active is None:
            with self._lock:
                active = self._active.setdefault(
                    key, new_active({"http.request.method": method, "url.scheme": scheme})
                )
        return active

    def started(self, active: ActiveCount) -> None:
        """Count a request in flight."""
        active.enter()

    def start(self, method: str, scheme: str) -> ActiveCount:
        """Count a request of (method, scheme) in flight; return its counter for `finished`."""
        active = self._active.get((method, scheme)) or self.active(method, scheme)
        active.enter()
        return active

    def finished(
        self,
        active: ActiveCount,
        cell: RequestCell,
        duration: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        """Count a request out of flight and record it in `cell`."""
        cell.record(active, duration, request_bytes, response_bytes)

    def record(
        self,
        active: ActiveCount,
        method: str,
        route: str | None,
        status: int,
        scheme: str,
        protocol_version: str | None,
        error_type: str | None,
        duration: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        """`finished` for the cell of these attributes: the middleware's one call per request."""
        cell = self._cells.get((method, route, status, scheme, protocol_version, error_type))
        if cell is None:
            cell = self.cell(
                method,
                route,
                status,
                scheme=scheme,
                protocol_version=protocol_version,
                error_type=error_type,
            )
        cell.record(active, duration, request_bytes, response_bytes)

    def refused(self, method: str | None, status: int, name: str) -> None:
        """Record a request the server answered itself (too broken or too late for the app).

        It counts in `http.server.request.duration` with no route, its status and
        `error.type` set to the error's name, as any failed request does.
        """
        known = method if method in KNOWN_METHODS else "_OTHER"
        self.finished(self.start(known, "http"), self.cell(known, None, status, error_type=name),
                      0.0, 0, 0)

    # -- security (error path) -----------------------------------------------------------

    def auth_failure(self, scheme: str, reason: str) -> None:
        """Count a request rejected by security scheme `scheme` for `reason`.

        `reason` must come from a small fixed set (e.g. "missing", "invalid",
        "expired", "scope"): it is a metric label, never the credential or a message.
        """
        key = (scheme, reason)
        attrs = self._auth_attrs.get(key)
        if attrs is None:
            attrs = self._auth_attrs.setdefault(key, {"scheme": scheme, "reason": reason})
        self._auth_failures.add(1, attrs)

    def ratelimit_rejected(self, scheme: str) -> None:
        """Count a request rejected by the rate limit of security scheme `scheme`."""
        attrs = self._ratelimit_attrs.get(scheme)
        if attrs is None:
            attrs = self._ratelimit_attrs.setdefault(scheme, {"scheme": scheme})
        self._ratelimit_rejected.add(1, attrs)

    # -- export ---------------------------------------------------------------------------

    def metrics(self) -> list[Metric]:
        """Snapshot the HTTP server instruments as SDK `Metric`s (cumulative temporality)."""
        now = time_ns()
        start = self._start
        with self._lock:  # no cell or counter is added meanwhile
            rows = [(c.attributes, *c.snapshot()) for c in self._cells.values() if c.count]
            active = [(a.attributes, a.value) for a in self._active.values()]
        result: list[Metric] = []
        if rows:
            for name, description, unit, index, bounds in _HISTOGRAMS:
                points = [
                    HistogramDataPoint(
                        attributes=row[0],
                        start_time_unix_nano=start,
                        time_unix_nano=now,
                        count=row[1],
                        sum=row[2][index][1],
                        bucket_counts=row[2][index][0],
                        explicit_bounds=bounds,
                        min=row[2][index][2],
                        max=row[2][index][3],
                    )
                    for row in rows
                ]
                histogram = Histogram(points, AggregationTemporality.CUMULATIVE)
                result.append(Metric(name, description, unit, histogram))
        if active:
            points_ = [NumberDataPoint(attrs, start, now, value) for attrs, value in active]
            data = Sum(points_, AggregationTemporality.CUMULATIVE, is_monotonic=False)
            result.append(
                Metric(
                    "http.server.active_requests",
                    "Number of active HTTP server requests.",
                    "{request}",
                    data,
                )
            )
        return result

    def merge(self, data: MetricsData | None, resource: Resource) -> MetricsData | None:
        """Return `data` (one SDK collection) with the HTTP server metrics added."""
        ours = self.metrics()
        if not ours:
            return data
        if data is None or not data.resource_metrics:
            scope_metrics = ScopeMetrics(self.scope, ours, self.scope.schema_url or "")
            return MetricsData([ResourceMetrics(resource, [scope_metrics], resource.schema_url)])
        first, *rest = data.resource_metrics
        scopes = list(first.scope_metrics)
        for i, scope_metrics in enumerate(scopes):
            if scope_metrics.scope == self.scope:
                scopes[i] = replace(scope_metrics, metrics=[*scope_metrics.metrics, *ours])
                break
        else:
            scopes.append(ScopeMetrics(self.scope, ours, self.scope.schema_url or ""))
        return MetricsData([replace(first, scope_metrics=scopes), *rest])
