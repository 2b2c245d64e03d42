"""OpenTelemetry for Bastion services: `from bastion import otel`.

`otel.configure(...)` builds an app's `Telemetry` (the App calls it from configuration),
`TracingMiddleware` traces and measures each HTTP request, `metrics_app` serves
Prometheus' `/metrics`, and `client()` makes outgoing calls that carry the trace. Inside
handlers, keep to the plain OpenTelemetry API. Users import `bastion.otel`; its
private modules hold the parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.otel._metrics import BODY_SIZE_BUCKETS, DURATION_BUCKETS, BuiltinMetrics
from bastion.otel._prometheus import CONTENT_TYPE, PrometheusReader, metrics_app
from bastion.otel._sampler import AdaptiveSampler, ParentBasedSampler
from bastion.otel._telemetry import Telemetry, configure
from bastion.otel._tracing import DEFAULT_EXCLUDE_PATHS, TracingMiddleware
from bastion.redact import DEFAULT_CREDENTIAL_PARAMS, redact_query, redact_url

if TYPE_CHECKING:
    from bastion.otel._client import TracedAsyncClient, TracedClient, client, sync_client

#: Imported on first use: httpx (and what it pulls in) only for services that call out.
_CLIENT_NAMES = frozenset({"TracedAsyncClient", "TracedClient", "client", "sync_client"})

__all__ = [
    "BODY_SIZE_BUCKETS",
    "CONTENT_TYPE",
    "DEFAULT_CREDENTIAL_PARAMS",
    "DEFAULT_EXCLUDE_PATHS",
    "DURATION_BUCKETS",
    "AdaptiveSampler",
    "BuiltinMetrics",
    "ParentBasedSampler",
    "PrometheusReader",
    "Telemetry",
    "TracedAsyncClient",
    "TracedClient",
    "TracingMiddleware",
    "client",
    "configure",
    "metrics_app",
    "redact_query",
    "redact_url",
    "sync_client",
]


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from bastion.otel import _client

        return getattr(_client, name)
    raise AttributeError(f"module 'bastion.otel' has no attribute {name!r}")
