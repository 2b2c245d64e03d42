"""The Prometheus `/metrics` endpoint: each scrape collects the app's metrics for prometheus_client.

Each `Telemetry` owns its own `PrometheusReader` (an SDK `InMemoryMetricReader` and a
prometheus_client `CollectorRegistry` of its own), so two apps in one process never
show each other's metrics: prometheus_client's global registry is not used.
prometheus_client writes the exposition (text format 0.0.4, or OpenMetrics when the
scraper asks for it, with its escaping); this module only maps OpenTelemetry's data to
Prometheus families as the OpenTelemetry-Prometheus compatibility specification says:
dots and other invalid characters become underscores, the unit becomes a suffix
(`s` -> `_seconds`, `By` -> `_bytes`, `{request}` -> nothing), monotonic sums become
counters ending in `_total`, and the resource is exported once as `target_info`.
`http.server.request.duration` is therefore scraped as
`http_server_request_duration_seconds_bucket/_sum/_count` with the labels
`http_request_method`, `http_route`, `http_response_status_code`, ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    InMemoryMetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.util.types import AnyValue
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.metrics_core import InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from bastion._asgi import method_not_allowed, serve_lifespan
from bastion.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from bastion.otel._telemetry import Telemetry

__all__ = ["CONTENT_TYPE", "PrometheusReader", "metrics_app", "prometheus_name", "render"]

#: The Content-Type of the text exposition format 0.0.4 (what a scrape gets by default).
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

_UNITS: Final = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "%": "percent",
}
_PER_UNITS: Final = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]+")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]+")
_ANNOTATION = re.compile(r"\{[^}]*\}")


def _unit_suffix(unit: str) -> str:
    unit = _ANNOTATION.sub("", unit).strip()
    if not unit or unit == "1":
        return ""
    if unit in _UNITS:
        return _UNITS[unit]
    if "/" in unit:
        top, _, bottom = unit.partition("/")
        top_name = _UNITS.get(top, top)
        bottom_name = _PER_UNITS.get(bottom, bottom)
        suffix = f"{top_name}_per_{bottom_name}" if top_name else f"per_{bottom_name}"
        return _INVALID_NAME.sub("_", suffix).strip("_")
    return _INVALID_NAME.sub("_", unit).strip("_")


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """Return the Prometheus family name of an OpenTelemetry metric.

    `kind` is "counter", "gauge" or "histogram"; counters end in `_total`, and a
    gauge of unit "1" ends in `_ratio`.
    """
    base = _INVALID_NAME.sub("_", name).strip("_") or "_"
    base = re.sub("__+", "_", base)
    if base[0].isdigit():
        base = f"_{base}"
    if kind == "counter" and base.endswith("_total"):
        base = base[: -len("_total")]
    suffix = _unit_suffix(unit)
    if not suffix and unit == "1" and kind == "gauge":
        suffix = "ratio"
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    if kind == "counter":
        base = f"{base}_total"
    return base


def _label_name(key: str) -> str:
    name = _INVALID_LABEL.sub("_", key)
    if name[:1].isdigit():
        name = f"key_{name}"
    return name


def _label_value(value: AnyValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(list(value) if isinstance(value, Iterable) else value, default=str)


def _labels(attributes: Mapping[str, AnyValue] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, value in (attributes or {}).items():
        name = _label_name(key)
        text = _label_value(value)
        # Two keys that sanitise to one label: join the values, as the spec says.
        labels[name] = f"{labels[name]};{text}" if name in labels else text
    return labels


def _bound(value: float) -> str:
    # `le` as Prometheus' own clients write it: 0.005, 1.0, +Inf.
    return "+Inf" if value == float("inf") else repr(float(value))


def families(data: MetricsData | None) -> list[Metric]:
    """Map one OpenTelemetry collection to prometheus_client metric families."""
    out: dict[str, Metric] = {}
    target: InfoMetricFamily | None = None
    for resource_metrics in data.resource_metrics if data else ():
        if target is None and resource_metrics.resource.attributes:
            target = InfoMetricFamily("target", "Target metadata")
            target.add_metric([], _labels(resource_metrics.resource.attributes))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _add(out, metric.name, metric.unit or "", metric.description or "", metric.data)
    return [*([target] if target is not None else []), *out.values()]


def _add(out: dict[str, Metric], name: str, unit: str, description: str, data: Any) -> None:
    if isinstance(data, Sum):
        kind = "counter" if data.is_monotonic else "gauge"
    elif isinstance(data, Gauge):
        kind = "gauge"
    elif isinstance(data, Histogram):
        kind = "histogram"
    else:
        # Exponential histograms have no classic Prometheus form; export them over OTLP.
        return
    full = prometheus_name(name, unit, kind)
    family = out.get(full)
    if family is None:
        suffix = _unit_suffix(unit)
        base = full.removesuffix("_total")
        # prometheus_client names a counter family without `_total`; samples keep it.
        family = out[full] = Metric(
            base if kind == "counter" else full,
            description,
            kind,
            suffix if suffix and base.endswith(f"_{suffix}") else "",
        )
    elif family.type != kind:
        # Same Prometheus name, different type: a scrape with both would be rejected.
        return
    if kind != "histogram":
        for point in data.data_points:
            family.add_sample(full, _labels(point.attributes), point.value)
        return
    for point in data.data_points:
        labels = _labels(point.attributes)
        cumulative = 0
        for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
            cumulative += count
            family.add_sample(f"{full}_bucket", {**labels, "le": _bound(bound)}, cumulative)
        family.add_sample(f"{full}_bucket", {**labels, "le": "+Inf"}, point.count)
        family.add_sample(f"{full}_count", labels, point.count)
        family.add_sample(f"{full}_sum", labels, point.sum)


class _Collector(Collector):
    def __init__(self, reader: InMemoryMetricReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        yield from families(self._reader.get_metrics_data())


class PrometheusReader:
    """A telemetry's Prometheus pull endpoint: a metric reader and a registry of its own.

    `reader` is registered with the telemetry's `MeterProvider`; each `render()`
    collects through it and prometheus_client writes the exposition.
    """

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self.reader))

    def render(self, accept: str = "") -> bytes:
        """Collect now; return the exposition text (format 0.0.4 unless `accept` asks)."""
        return self.exposition(accept)[0]

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """Collect now; return (body, Content-Type) for a scraper sending `accept`."""
        if not accept:
            return generate_latest(self.registry), CONTENT_TYPE
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def render(data: MetricsData | None) -> str:
    """Render one collection in the Prometheus text exposition format 0.0.4."""
    registry = CollectorRegistry(auto_describe=False)

    class _Fixed(Collector):
        def collect(self) -> Iterator[Metric]:
            yield from families(data)

    registry.register(_Fixed())
    return generate_latest(registry).decode()


def metrics_app(telemetry: Telemetry) -> ASGIApp:
    """Return an ASGI app serving the telemetry's metrics in the Prometheus text format.

    GET and HEAD answer 200 (OpenMetrics when the scraper's Accept asks for it); other
    methods 405. Mount it on the admin listener, or behind protection: metric labels
    name routes and status codes.
    """
    prometheus = telemetry.prometheus
    if prometheus is None:
        raise ValueError("this Telemetry was configured with prometheus=False: no /metrics")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await method_not_allowed(scope, send, "GET, HEAD")
            return
        accept = ""
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
        # Collecting walks every instrument; keep it off the event loop.
        body, content_type = await anyio.to_thread.run_sync(prometheus.exposition, accept)
        headers = [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    return app
