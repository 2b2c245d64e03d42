"""Telemetry that samples every trace and keeps its spans in memory, for tests to read."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from bastion.otel import ParentBasedSampler, Telemetry, configure


@contextlib.contextmanager
def traced(service: str = "orders", version: str = "1", *,
           exporter: InMemorySpanExporter | None = None,
           **options: Any) -> Iterator[tuple[Telemetry, InMemorySpanExporter]]:
    """`configure(service, version)` with no environment, sampling every trace (parent-based).

    Spans go to `exporter` (a new in-memory one by default); `options` are passed to
    `configure`. The telemetry is shut down when the block ends.
    """
    exporter = exporter if exporter is not None else InMemorySpanExporter()
    telemetry = configure(service, version, env={}, span_exporter=exporter,
                          sampler=ParentBasedSampler(ALWAYS_ON), **options)
    try:
        yield telemetry, exporter
    finally:
        telemetry.shutdown()
