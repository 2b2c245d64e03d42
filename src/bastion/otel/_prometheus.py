"""The Prometheus `/metrics` endpoint: a pull reader rendering the text exposition format 0.0.4.

Each `Telemetry` owns its own `PrometheusReader`, so two apps in one process never show
each other's metrics (prometheus_client's global registry is not used). OpenTelemetry
names are mapped as the OpenTelemetry-Prometheus compatibility specification says:
dots and other invalid characters become underscores, the unit becomes a suffix
(`s` -> `_seconds`, `By` -> `_bytes`, `{request}` -> nothing), monotonic sums become
counters ending in `_total`, and the resource is exported once as `target_info`.
`http.server.request.duration` is therefore scraped as
`http_server_request_duration_seconds_bucket/_sum/_count` with the labels
`http_request_method`, `http_route`, `http_response_status_code`, ...
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    MetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.util.types import AnyValue

from bastion._asgi import ack_lifespan, method_not_allowed
from bastion.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from bastion.otel._telemetry import Telemetry

__all__ = ["CONTENT_TYPE", "PrometheusReader", "metrics_app", "prometheus_name", "render"]

#: The Content-Type of the text exposition format.
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
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = _number(value)
    else:
        text = json.dumps(list(value) if isinstance(value, Iterable) else value, default=str)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _labels(attributes: Mapping[str, AnyValue] | None, extra: str = "") -> str:
    parts: dict[str, str] = {}
    for key, value in (attributes or {}).items():
        name = _label_name(key)
        text = _label_value(value)
        # Two keys that sanitise to one label: join the values, as the spec says.
        parts[name] = f"{parts[name]};{text}" if name in parts else text
    body = ",".join(f'{k}="{v}"' for k, v in parts.items())
    if extra:
        body = f"{body},{extra}" if body else extra
    return f"{{{body}}}" if body else ""


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class _Family:
    __slots__ = ("help", "lines", "type")

    def __init__(self, type_: str, help_: str) -> None:
        self.type = type_
        self.help = help_
        self.lines: list[str] = []


def render(data: MetricsData | None) -> str:
    """Render one collection in the Prometheus text exposition format 0.0.4."""
    families: dict[str, _Family] = {}
    target: list[str] = []
    for resource_metrics in data.resource_metrics if data else ():
        if not target and resource_metrics.resource.attributes:
            target.append(f"target_info{_labels(resource_metrics.resource.attributes)} 1")
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _add_metric(
                    families, metric.name, metric.unit or "", metric.description or "", metric.data
                )
    out: list[str] = []
    if target:
        out += ["# HELP target_info Target metadata", "# TYPE target_info gauge", *target]
    for name, family in families.items():
        if family.help:
            out.append(f"# HELP {name} {_help(family.help)}")
        out.append(f"# TYPE {name} {family.type}")
        out += family.lines
    return "\n".join(out) + "\n" if out else ""


def _add_metric(
    families: dict[str, _Family], name: str, unit: str, description: str, data: Any
) -> None:
    if isinstance(data, Sum):
        kind = "counter" if data.is_monotonic else "gauge"
    elif isinstance(data, Gauge):
        kind = "gauge"
    elif isinstance(data, Histogram):
        kind = "histogram"
    else:
        # Exponential histograms have no 0.0.4 text form; export them over OTLP.
        return
    family_name = prometheus_name(name, unit, kind)
    family = families.get(family_name)
    if family is None:
        family = families[family_name] = _Family(kind, description)
    elif family.type != kind:
        # Same Prometheus name, different type: a scrape with both would be rejected.
        return
    lines = family.lines
    if kind != "histogram":
        for point in data.data_points:
            lines.append(f"{family_name}{_labels(point.attributes)} {_number(point.value)}")
        return
    for point in data.data_points:
        cumulative = 0
        for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
            cumulative += count
            le = f'le="{_number(float(bound))}"'
            lines.append(f"{family_name}_bucket{_labels(point.attributes, le)} {cumulative}")
        inf = 'le="+Inf"'
        lines.append(f"{family_name}_bucket{_labels(point.attributes, inf)} {point.count}")
        lines.append(f"{family_name}_sum{_labels(point.attributes)} {_number(point.sum)}")
        lines.append(f"{family_name}_count{_labels(point.attributes)} {point.count}")


class PrometheusReader(MetricReader):
    """A pull `MetricReader`: each `render()` collects and returns the text exposition."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._data: MetricsData | None = None

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._data = metrics_data

    def render(self) -> bytes:
        """Collect now and return the exposition text (UTF-8)."""
        with self._lock:
            self._data = None
            self.collect()
            data, self._data = self._data, None
        return render(data).encode()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Nothing to release: the reader holds no thread or connection."""


def metrics_app(telemetry: Telemetry) -> ASGIApp:
    """Return an ASGI app serving the telemetry's metrics in the Prometheus text format.

    GET and HEAD answer 200; other methods 405. Mount it on the admin listener, or
    behind protection: metric labels name routes and status codes.
    """
    reader = telemetry.prometheus
    if reader is None:
        raise ValueError("this Telemetry was configured with prometheus=False: no /metrics")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await ack_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await method_not_allowed(scope, send, "GET, HEAD")
            return
        # Collecting walks every instrument; keep it off the event loop.
        body = await anyio.to_thread.run_sync(reader.render)
        headers = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    return app
