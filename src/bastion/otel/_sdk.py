"""The one place Bastion reaches past the OpenTelemetry SDK's public API.

Bastion aggregates the HTTP server metrics itself (`bastion.otel._metrics`: a
measurement through the SDK's instruments costs 9-14 µs, four of them per request), and
those aggregates must appear in every collection any metric reader makes, as if they
were SDK instruments. The SDK has no public hook for adding data to a collection (the
specification's `MetricProducer` is not in the Python SDK), so this module wraps the
callback the `MeterProvider` installs on each reader when it registers it:
`MetricReader._collect`, replaced through `MetricReader._set_collect_callback`.

The supported SDK versions are the range pinned in pyproject.toml;
`tests/otel/test_sdk_contract.py` checks this module against the oldest and the newest
of them (`.ci/otel-contract`).
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.metrics.export import MetricReader, MetricsData

__all__ = ["Extra", "extend_collections"]

#: Given one collection of the SDK (None when it has no data), return it with more data.
Extra = Callable[[MetricsData | None], MetricsData | None]


def extend_collections(reader: MetricReader, extra: Extra) -> None:
    """Pass every collection `reader` makes through `extra` before the reader gets it.

    `reader` must already be registered with a `MeterProvider` (the provider's
    constructor registers the readers it is given).
    """
    original = getattr(reader, "_collect", None)
    if not callable(original):
        raise RuntimeError(
            f"{type(reader).__name__} has no collect callback: register it with a "
            "MeterProvider first (or this OpenTelemetry SDK version is not supported)"
        )

    def collect(r: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        data: MetricsData | None = original(r, timeout_millis=timeout_millis)
        return extra(data)

    reader._set_collect_callback(collect)  # type: ignore[arg-type]
