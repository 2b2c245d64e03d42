"""Read the standard `OTEL_*` environment variables into one checked settings object.

Everything is read from the mapping `configure` is given (the process environment by
default), every bad variable is collected, and one `ConfigError` lists them all.
Exporters are built from the settings; gRPC ones import lazily since that extra is
optional. Durations are milliseconds, as the OpenTelemetry specification says (the
Python SDK's own reading of `OTEL_EXPORTER_OTLP_TIMEOUT` as seconds is not followed).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Final
from urllib.parse import unquote

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bastion.errors import ConfigError
from bastion.otel._sampler import AdaptiveSampler, ParentBasedSampler

__all__ = ["OTLPSettings", "Settings", "W3CPropagator", "read_settings"]

SIGNALS: Final = ("traces", "metrics", "logs")
_EXPORTERS: Final = {
    "traces": {"otlp", "console", "none"},
    # "prometheus" is accepted for compatibility: Bastion always serves /metrics.
    "metrics": {"otlp", "console", "none", "prometheus"},
    "logs": {"otlp", "console", "none"},
}
_PROTOCOLS: Final = ("http/protobuf", "grpc")
_SAMPLERS: Final = (
    "always_on",
    "always_off",
    "traceidratio",
    "adaptive",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
    "parentbased_adaptive",
)
#: Bastion's default, as Clue's: parent-based, at most 2 new traces per second.
DEFAULT_SAMPLER: Final = "parentbased_adaptive"
DEFAULT_MAX_TRACES_PER_SECOND: Final = 2.0


class W3CPropagator(CompositePropagator):
    """The default propagator, W3C TraceContext then W3C Baggage.

    Its own type lets the tracing middleware recognise it and parse `traceparent`
    directly instead of through the generic getter and regular expression.
    """

    def __init__(self) -> None:
        super().__init__([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


@dataclass(frozen=True)
class OTLPSettings:
    """Where and how one signal is exported over OTLP."""

    protocol: str
    endpoint: str
    headers: dict[str, str]
    timeout: float  # seconds
    compression: str | None
    insecure: bool | None
    certificate: str | None


@dataclass(frozen=True)
class Settings:
    """The OpenTelemetry configuration read from the environment."""

    disabled: bool = False
    service_name: str | None = None
    resource_attributes: dict[str, str] = field(default_factory=dict)
    exporters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    otlp: dict[str, OTLPSettings] = field(default_factory=dict)
    sampler: Sampler = field(default_factory=lambda: ParentBasedSampler(AdaptiveSampler()))
    propagator: TextMapPropagator = field(default_factory=W3CPropagator)
    metric_export_interval_ms: float = 60_000
    metric_export_timeout_ms: float = 30_000
    batch: dict[str, dict[str, float]] = field(default_factory=dict)


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum:
            self.problems.append(f"{name}={raw!r}: expected a number >= {minimum:g}")
            return default
        return value

    def boolean(self, name: str) -> bool | None:
        raw = self.get(name)
        if raw is None:
            return None
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        self.problems.append(f"{name}={raw!r}: expected true or false")
        return None

    def pairs(self, name: str) -> dict[str, str]:
        # "key1=value1,key2=value2", values percent-encoded (W3C Baggage style).
        raw = self.get(name)
        result: dict[str, str] = {}
        if raw is None:
            return result
        for position, item in enumerate(raw.split(","), 1):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                # Named by position, never echoed: a malformed header entry may be a token.
                self.problems.append(f"{name}: entry {position} is not key=value")
                continue
            result[unquote(key.strip())] = unquote(value.strip())
        return result


def _exporters(r: _Reader, signal: str, has_endpoint: bool) -> tuple[str, ...]:
    name = f"OTEL_{signal.upper()}_EXPORTER"
    raw = r.get(name)
    if raw is None:
        # Bastion's default: export over OTLP only when a collector is configured, so a
        # service runs with no collector and makes no network attempt.
        return ("otlp",) if has_endpoint else ()
    chosen = tuple(dict.fromkeys(v.strip().lower() for v in raw.split(",") if v.strip()))
    allowed = _EXPORTERS[signal]
    bad = [v for v in chosen if v not in allowed]
    if bad:
        r.problems.append(f"{name}={raw!r}: expected a list of {', '.join(sorted(allowed))}")
        return ()
    return tuple(v for v in chosen if v not in ("none", "prometheus"))


def _otlp(r: _Reader, signal: str) -> OTLPSettings:
    s = signal.upper()

    def pick(suffix: str) -> tuple[str, str | None]:
        specific = f"OTEL_EXPORTER_OTLP_{s}_{suffix}"
        value = r.get(specific)
        if value is not None:
            return specific, value
        generic = f"OTEL_EXPORTER_OTLP_{suffix}"
        return generic, r.get(generic)

    name, protocol = pick("PROTOCOL")
    if protocol is None:
        protocol = "http/protobuf"
    elif protocol not in _PROTOCOLS:
        r.problems.append(f"{name}={protocol!r}: expected one of {', '.join(_PROTOCOLS)}")
        protocol = "http/protobuf"

    specific = r.get(f"OTEL_EXPORTER_OTLP_{s}_ENDPOINT")
    generic = r.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if specific is not None:
        endpoint = specific  # used as is, per the specification
    elif protocol == "grpc":
        endpoint = generic or "http://localhost:4317"
    else:
        endpoint = (generic or "http://localhost:4318").rstrip("/") + f"/v1/{signal}"
    if protocol == "http/protobuf" and not endpoint.startswith(("http://", "https://")):
        r.problems.append(
            f"OTEL_EXPORTER_OTLP_{s}_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT={endpoint!r}: "
            "expected an http:// or https:// URL"
        )

    header_var = (
        f"OTEL_EXPORTER_OTLP_{s}_HEADERS"
        if r.get(f"OTEL_EXPORTER_OTLP_{s}_HEADERS") is not None
        else "OTEL_EXPORTER_OTLP_HEADERS"
    )
    headers = r.pairs(header_var)

    timeout_var = (
        f"OTEL_EXPORTER_OTLP_{s}_TIMEOUT"
        if r.get(f"OTEL_EXPORTER_OTLP_{s}_TIMEOUT") is not None
        else "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    timeout = r.number(timeout_var, 10_000, minimum=1) / 1000

    name, compression = pick("COMPRESSION")
    if compression is not None:
        compression = compression.lower()
        if compression not in ("gzip", "none"):
            r.problems.append(f"{name}={compression!r}: expected gzip or none")
            compression = None
        elif compression == "none":
            compression = None

    insecure_var = (
        f"OTEL_EXPORTER_OTLP_{s}_INSECURE"
        if r.get(f"OTEL_EXPORTER_OTLP_{s}_INSECURE") is not None
        else "OTEL_EXPORTER_OTLP_INSECURE"
    )
    insecure = r.boolean(insecure_var)
    _, certificate = pick("CERTIFICATE")
    return OTLPSettings(protocol, endpoint, headers, timeout, compression, insecure, certificate)


def _sampler(r: _Reader) -> Sampler:
    raw = r.get("OTEL_TRACES_SAMPLER")
    name = (raw or DEFAULT_SAMPLER).lower()
    if name not in _SAMPLERS:
        r.problems.append(f"OTEL_TRACES_SAMPLER={raw!r}: expected one of {', '.join(_SAMPLERS)}")
        name = DEFAULT_SAMPLER
    arg = r.get("OTEL_TRACES_SAMPLER_ARG")
    root: Sampler
    if name.endswith("traceidratio"):
        ratio = 1.0
        if arg is not None:
            try:
                ratio = float(arg)
            except ValueError:
                ratio = math.nan
            if not 0.0 <= ratio <= 1.0:
                r.problems.append(
                    f"OTEL_TRACES_SAMPLER_ARG={arg!r}: expected a ratio between 0 and 1"
                )
                ratio = 1.0
        root = TraceIdRatioBased(ratio)
    elif name.endswith("adaptive"):
        rate = DEFAULT_MAX_TRACES_PER_SECOND
        if arg is not None:
            try:
                rate = float(arg)
            except ValueError:
                rate = math.nan
            if not (math.isfinite(rate) and rate > 0):
                r.problems.append(
                    f"OTEL_TRACES_SAMPLER_ARG={arg!r}: expected the maximum number of traces "
                    "per second (a number > 0)"
                )
                rate = DEFAULT_MAX_TRACES_PER_SECOND
        root = AdaptiveSampler(rate)
    elif name.endswith("always_off"):
        root = ALWAYS_OFF
    else:
        root = ALWAYS_ON
    return ParentBasedSampler(root) if name.startswith("parentbased_") else root


def _propagator(r: _Reader) -> TextMapPropagator:
    raw = r.get("OTEL_PROPAGATORS") or "tracecontext,baggage"
    names = list(dict.fromkeys(v.strip().lower() for v in raw.split(",") if v.strip()))
    if names == ["tracecontext", "baggage"]:
        return W3CPropagator()
    propagators: list[TextMapPropagator] = []
    for name in names:
        if name == "none":
            continue
        if name == "tracecontext":
            propagators.append(TraceContextTextMapPropagator())
        elif name == "baggage":
            propagators.append(W3CBaggagePropagator())
        else:
            found = entry_points(group="opentelemetry_propagator", name=name)
            if not found:
                r.problems.append(
                    f"OTEL_PROPAGATORS: unknown propagator {name!r} (built in: tracecontext, "
                    "baggage, none; others need their package, e.g. "
                    "opentelemetry-propagator-b3)"
                )
                continue
            propagators.append(next(iter(found)).load()())
    return CompositePropagator(propagators)


def read_settings(env: Mapping[str, str]) -> Settings:
    """Read and check the `OTEL_*` variables of `env`; raise one `ConfigError` listing all."""
    r = _Reader(env)
    disabled = bool(r.boolean("OTEL_SDK_DISABLED"))
    resource = r.pairs("OTEL_RESOURCE_ATTRIBUTES")
    exporters: dict[str, tuple[str, ...]] = {}
    otlp: dict[str, OTLPSettings] = {}
    for signal in SIGNALS:
        has_endpoint = (
            r.get("OTEL_EXPORTER_OTLP_ENDPOINT") is not None
            or r.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") is not None
        )
        exporters[signal] = _exporters(r, signal, has_endpoint)
        if "otlp" in exporters[signal]:
            otlp[signal] = _otlp(r, signal)
    batch = {
        "traces": {
            "schedule_delay_millis": r.number("OTEL_BSP_SCHEDULE_DELAY", 5000),
            "export_timeout_millis": r.number("OTEL_BSP_EXPORT_TIMEOUT", 30000),
            "max_queue_size": r.number("OTEL_BSP_MAX_QUEUE_SIZE", 2048, minimum=1),
            "max_export_batch_size": r.number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, minimum=1),
        },
        "logs": {
            "schedule_delay_millis": r.number("OTEL_BLRP_SCHEDULE_DELAY", 1000),
            "export_timeout_millis": r.number("OTEL_BLRP_EXPORT_TIMEOUT", 30000),
            "max_queue_size": r.number("OTEL_BLRP_MAX_QUEUE_SIZE", 2048, minimum=1),
            "max_export_batch_size": r.number("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 512, minimum=1),
        },
    }
    for group in batch.values():
        if group["max_export_batch_size"] > group["max_queue_size"]:
            r.problems.append(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE / OTEL_BLRP_MAX_EXPORT_BATCH_SIZE must not "
                "exceed the matching MAX_QUEUE_SIZE"
            )
            break
    settings = Settings(
        disabled=disabled,
        service_name=r.get("OTEL_SERVICE_NAME"),
        resource_attributes=resource,
        exporters=exporters,
        otlp=otlp,
        sampler=_sampler(r),
        propagator=_propagator(r),
        metric_export_interval_ms=r.number("OTEL_METRIC_EXPORT_INTERVAL", 60_000, minimum=1),
        metric_export_timeout_ms=r.number("OTEL_METRIC_EXPORT_TIMEOUT", 30_000, minimum=1),
        batch=batch,
    )
    if r.problems:
        raise ConfigError(r.problems)
    return settings


# -- exporters ---------------------------------------------------------------------------

_GRPC_HINT: Final = (
    "OTLP over gRPC needs the grpc extra: pip install 'bastion[grpc]' "
    "(opentelemetry-exporter-otlp-proto-grpc)"
)


def _grpc_module(path: str) -> Any:
    try:
        return importlib.import_module(path)
    except ImportError as exc:
        raise ConfigError([_GRPC_HINT]) from exc


def _http_kwargs(o: OTLPSettings) -> dict[str, Any]:
    # Exporter modules import only when configured: they pull in requests or grpc.
    from opentelemetry.exporter.otlp.proto.http import Compression

    kwargs: dict[str, Any] = {"endpoint": o.endpoint, "headers": o.headers, "timeout": o.timeout}
    gzip = o.compression == "gzip"
    kwargs["compression"] = Compression.Gzip if gzip else Compression.NoCompression
    if o.certificate:
        kwargs["certificate_file"] = o.certificate
    return kwargs


def _grpc_kwargs(o: OTLPSettings) -> dict[str, Any]:
    grpc = _grpc_module("grpc")
    kwargs: dict[str, Any] = {"endpoint": o.endpoint, "headers": o.headers, "timeout": o.timeout}
    kwargs["compression"] = grpc.Compression.Gzip if o.compression == "gzip" else None
    # An http:// endpoint means plaintext unless the variable says otherwise.
    insecure = o.insecure if o.insecure is not None else o.endpoint.startswith("http://")
    kwargs["insecure"] = insecure
    if o.certificate and not insecure:
        with open(o.certificate, "rb") as f:
            kwargs["credentials"] = grpc.ssl_channel_credentials(root_certificates=f.read())
    return kwargs


_OTLP_CLASSES: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("traces", "http/protobuf"): (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "OTLPSpanExporter",
    ),
    ("metrics", "http/protobuf"): (
        "opentelemetry.exporter.otlp.proto.http.metric_exporter",
        "OTLPMetricExporter",
    ),
    ("logs", "http/protobuf"): (
        "opentelemetry.exporter.otlp.proto.http._log_exporter",
        "OTLPLogExporter",
    ),
    ("traces", "grpc"): (
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "OTLPSpanExporter",
    ),
    ("metrics", "grpc"): (
        "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
        "OTLPMetricExporter",
    ),
    ("logs", "grpc"): ("opentelemetry.exporter.otlp.proto.grpc._log_exporter", "OTLPLogExporter"),
}


def otlp_exporter(signal: str, o: OTLPSettings) -> Any:
    """Build the OTLP exporter of `signal` (traces, metrics, logs) from its settings."""
    module_path, name = _OTLP_CLASSES[(signal, o.protocol)]
    if o.protocol == "grpc":
        cls = getattr(_grpc_module(module_path), name)
        return cls(**_grpc_kwargs(o))
    cls = getattr(importlib.import_module(module_path), name)
    return cls(**_http_kwargs(o))


def console_exporter(signal: str) -> Any:
    """Build the console (stdout) exporter of `signal`."""
    factories: dict[str, Callable[[], Any]] = {
        "traces": _console_spans,
        "metrics": _console_metrics,
        "logs": _console_logs,
    }
    return factories[signal]()


def _console_spans() -> Any:
    return ConsoleSpanExporter()


def _console_metrics() -> Any:
    return ConsoleMetricExporter()


def _console_logs() -> Any:
    return ConsoleLogRecordExporter()
