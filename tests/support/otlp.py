"""A real OTLP/HTTP receiver on 127.0.0.1 for tests: it decodes what exporters send.

    with otlp_receiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        ...                                  # run the service, then flush/shutdown it
        spans = receiver.wait_for_spans(lambda s: any(x.name == "GET /ping" for x in s))

Requests to /v1/traces, /v1/metrics and /v1/logs are decoded with `opentelemetry-proto`
(gzip bodies too) and kept as plain Python objects: spans with hex ids and attribute
dicts, metric data points with their attributes, log records.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = ["OTLPReceiver", "ReceivedLog", "ReceivedPoint", "ReceivedSpan", "otlp_receiver"]

_SPAN_KINDS = {v: k.removeprefix("SPAN_KIND_") for k, v in Span.SpanKind.items()}
_STATUS_CODES = {v: k.removeprefix("STATUS_CODE_") for k, v in Status.StatusCode.items()}


def value(v: AnyValue) -> Any:
    """Return the Python value of an OTLP `AnyValue`."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return getattr(v, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    """Return OTLP key/values as a dict."""
    return {kv.key: value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


@dataclass
class ReceivedSpan:
    """One span as the receiver decoded it; ids are lower-case hex."""

    name: str
    kind: str  # "SERVER", "CLIENT", "INTERNAL", ...
    trace_id: str
    span_id: str
    parent_span_id: str | None
    attributes: dict[str, Any]
    status_code: str  # "UNSET", "OK", "ERROR"
    status_message: str
    events: list[tuple[str, dict[str, Any]]]
    resource: dict[str, Any]
    scope: str
    start_time_unix_nano: int
    end_time_unix_nano: int


@dataclass
class ReceivedPoint:
    """One metric data point: histogram points have count, sum and bucket counts."""

    metric: str
    unit: str
    kind: str  # "sum", "gauge", "histogram", "exponential_histogram"
    attributes: dict[str, Any]
    value: float | None = None
    count: int | None = None
    sum: float | None = None
    bucket_counts: list[int] = field(default_factory=list)
    explicit_bounds: list[float] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReceivedLog:
    """One log record."""

    body: Any
    severity_text: str
    severity_number: int
    attributes: dict[str, Any]
    trace_id: str
    span_id: str
    resource: dict[str, Any]


class OTLPReceiver:
    """Collects what OTLP/HTTP exporters post to it; thread-safe readers."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._points: list[ReceivedPoint] = []
        self._logs: list[ReceivedLog] = []
        #: (path, headers with lower-case names) of every request received.
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the receiver listens on."""
        if self._server is None:
            raise RuntimeError("receiver not started")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """The value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self.port}"

    def spans(self) -> list[ReceivedSpan]:
        """Spans received so far."""
        with self._lock:
            return list(self._spans)

    def points(self, metric: str | None = None) -> list[ReceivedPoint]:
        """Metric data points received so far (of `metric` only, if given)."""
        with self._lock:
            return [p for p in self._points if metric is None or p.metric == metric]

    def logs(self) -> list[ReceivedLog]:
        """Log records received so far."""
        with self._lock:
            return list(self._logs)

    def wait_for_spans(
        self, ready: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """Block until `ready(spans)` is true; raise TimeoutError with what arrived."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not ready(self._spans):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = [s.name for s in self._spans]
                    raise TimeoutError(f"spans not received in {timeout}s; got {names}")
                self._lock.wait(remaining)
            return list(self._spans)

    # -- decoding (called from the HTTP server threads) ---------------------------------

    def _traces(self, body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        spans = []
        for rs in request.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        ReceivedSpan(
                            name=s.name,
                            kind=_SPAN_KINDS.get(s.kind, str(s.kind)),
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex() or None,
                            attributes=attributes(s.attributes),
                            status_code=_STATUS_CODES.get(s.status.code, str(s.status.code)),
                            status_message=s.status.message,
                            events=[(e.name, attributes(e.attributes)) for e in s.events],
                            resource=resource,
                            scope=ss.scope.name,
                            start_time_unix_nano=s.start_time_unix_nano,
                            end_time_unix_nano=s.end_time_unix_nano,
                        )
                    )
        with self._lock:
            self._spans += spans
            self._lock.notify_all()
        return bytes(ExportTraceServiceResponse().SerializeToString())

    def _metrics(self, body: bytes) -> bytes:
        request = ExportMetricsServiceRequest.FromString(body)
        points = []
        for rm in request.resource_metrics:
            resource = attributes(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data") or ""
                    data = getattr(m, kind)
                    for p in data.data_points:
                        point = ReceivedPoint(
                            m.name, m.unit, kind, attributes(p.attributes), resource=resource
                        )
                        if kind in ("sum", "gauge"):
                            point.value = getattr(p, p.WhichOneof("value") or "as_double")
                        elif kind == "histogram":
                            point.count = p.count
                            point.sum = p.sum
                            point.bucket_counts = list(p.bucket_counts)
                            point.explicit_bounds = list(p.explicit_bounds)
                        else:
                            point.count = p.count
                            point.sum = p.sum
                        points.append(point)
        with self._lock:
            self._points += points
            self._lock.notify_all()
        return bytes(ExportMetricsServiceResponse().SerializeToString())

    def _logs_in(self, body: bytes) -> bytes:
        request = ExportLogsServiceRequest.FromString(body)
        logs = []
        for rl in request.resource_logs:
            resource = attributes(rl.resource.attributes)
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    logs.append(
                        ReceivedLog(
                            body=value(r.body),
                            severity_text=r.severity_text,
                            severity_number=r.severity_number,
                            attributes=attributes(r.attributes),
                            trace_id=r.trace_id.hex(),
                            span_id=r.span_id.hex(),
                            resource=resource,
                        )
                    )
        with self._lock:
            self._logs += logs
            self._lock.notify_all()
        return bytes(ExportLogsServiceResponse().SerializeToString())

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free 127.0.0.1 port in a background thread."""
        receiver = self
        routes = {
            "/v1/traces": self._traces,
            "/v1/metrics": self._metrics,
            "/v1/logs": self._logs_in,
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                encoding = self.headers.get("content-encoding") or ""
                if encoding == "gzip":
                    body = gzip.decompress(body)
                with receiver._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append((self.path, headers))
                route = routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                answer = route(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextlib.contextmanager
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """Run an `OTLPReceiver` on a free 127.0.0.1 port for the duration of the block."""
    receiver = OTLPReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.close()
