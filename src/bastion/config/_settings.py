"""The base configuration every Bastion service reads from its environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bastion.config._address import parse_address
from bastion.config._units import ByteSize, Duration

__all__ = ["Config", "Secret"]

#: A value that is masked wherever the configuration is shown; read it with
#: `.get_secret_value()`.
Secret = SecretStr

_MiB = 1024 * 1024


class Config(BaseSettings):
    """Typed settings read from the environment; subclass it to add your own.

    Every field reads the variable of the same name in upper case (`http_addr` reads
    `HTTP_ADDR`). A field without a default is required. Use `Duration`, `ByteSize` and
    `Secret` for timeouts, sizes and credentials::

        class Settings(bastion.config.Config):
            database_url: Secret                  # required: DATABASE_URL
            cache_ttl: Duration = 300.0           # CACHE_TTL="5m"

    Load it with `bastion.config.load(Settings)`, which reports every bad variable at once.
    """

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    http_addr: str = Field(":8080", description="address the API listens on")
    admin_addr: str = Field(
        "127.0.0.1:8081", description="address of health, metrics and debug; empty disables it"
    )
    grpc_addr: str = Field(
        ":8082", description="address of the gRPC listener (methods with GRPC); empty disables it"
    )
    grpc_max_recv_message_bytes: ByteSize = Field(
        4 * _MiB, gt=0, description="largest gRPC message a client may send (RESOURCE_EXHAUSTED)"
    )
    grpc_max_send_message_bytes: ByteSize = Field(
        4 * _MiB, gt=0, description="largest gRPC message the server sends"
    )
    grpc_keepalive_time: Duration = Field(
        7200.0, gt=0, description="idle time on a gRPC connection before the server pings it"
    )
    grpc_keepalive_timeout: Duration = Field(
        20.0, gt=0, description="time a keep-alive ping waits for its answer; then: closed"
    )
    grpc_keepalive_min_time: Duration = Field(
        300.0, ge=0, description="shortest interval between a client's pings (more: GOAWAY)"
    )
    grpc_max_connection_idle: Duration = Field(
        0.0, ge=0, description="time a gRPC connection may have no call before GOAWAY; 0 is off"
    )
    grpc_max_connection_age: Duration = Field(
        0.0, ge=0, description="age at which a gRPC connection gets GOAWAY (rebalances); 0 is off"
    )
    grpc_max_connection_age_grace: Duration = Field(
        0.0, ge=0, description="time calls get to finish after that GOAWAY; 0 waits for them"
    )
    grpc_reflection: Literal["auto", "on", "off"] = Field(
        "auto", description="gRPC server reflection; auto: on on a loopback GRPC_ADDR or a TTY"
    )
    log_level: Literal["debug", "info", "warn", "warning", "error"] = Field(
        "info", description="lowest level logged"
    )
    log_format: Literal["auto", "json", "terminal", "logfmt"] = Field(
        "auto", description="auto: terminal format on a TTY, JSON otherwise"
    )
    log_keys: Literal["default", "gcp", "ecs"] = Field(
        "default", description="key names: Bastion's, Google Cloud Logging's or Elastic ECS's"
    )
    log_redact: str = Field(
        "", description="more names whose values logs and spans redact, comma separated"
    )
    read_header_timeout: Duration = Field(
        10.0, gt=0, description="time to receive a request's headers, from connect or first byte"
    )
    read_timeout: Duration = Field(
        30.0, gt=0, description="time to receive a whole request, body included, from its head"
    )
    write_timeout: Duration = Field(
        60.0, gt=0,
        description="time from a request's head to its response's last byte; the handler is "
        "cancelled (503) and a connection still writing is closed",
    )
    idle_timeout: Duration = Field(
        120.0, gt=0, description="time a keep-alive connection may wait for its next request"
    )
    max_header_bytes: ByteSize = Field(
        _MiB, gt=0, description="largest request line and headers (431)"
    )
    max_url_bytes: ByteSize = Field(
        16 * 1024, gt=0, description="longest request target, path and query (414)"
    )
    max_body_bytes: ByteSize = Field(_MiB, gt=0, description="largest request body (413)")
    max_concurrency: int | None = Field(
        None, gt=0, description="in-flight requests per worker before 503 + Retry-After"
    )
    ws_max_message_bytes: ByteSize = Field(
        _MiB, gt=0, description="largest WebSocket message, in either direction (close 1009)"
    )
    ws_ping_interval: Duration = Field(
        20.0, gt=0, description="silence on a WebSocket before a ping; no pong as long: closed"
    )
    ws_idle_timeout: Duration = Field(
        600.0, gt=0, description="time a WebSocket may go without a message either way (1001)"
    )
    sse_heartbeat: Duration = Field(
        15.0, gt=0, description="silence on a server-sent event stream before a comment line"
    )
    threads: int = Field(
        64, ge=1, description="threads per worker for sync methods and sync auth handlers"
    )
    shutdown_timeout: Duration = Field(
        30.0, ge=0, description="time in-flight requests get to finish on shutdown"
    )
    shutdown_delay: Duration = Field(
        0.0, ge=0, description="time readiness reports 503 before the listener closes"
    )
    tls_cert_file: Path | None = Field(None, description="PEM certificate chain; enables HTTPS")
    tls_key_file: Path | None = Field(None, description="PEM private key of the certificate")
    hsts_max_age: Duration = Field(
        0.0, ge=0, description="Strict-Transport-Security max-age on HTTPS responses; 0 is off"
    )
    hsts_include_subdomains: bool = Field(False, description="add includeSubDomains to HSTS")
    workers: int = Field(1, ge=1, description="processes serving the same port")
    redis_url: str | None = Field(None, description="Redis for distributed rate limits")
    rate_limits: str = Field(
        "",
        description="limits over the design's: name=limit,... where name is a scheme "
        "(per key) or service.method, e.g. api_key=1000/hour,orders.create=20/minute",
    )
    trusted_proxies: str = Field(
        "",
        description="addresses or networks of the proxies whose Forwarded / X-Forwarded-For "
        "name the client (e.g. 10.0.0.0/8,127.0.0.1): logs, spans and per-client limits",
    )
    auth_failures_per_client: str = Field(
        "30/minute", description="failed authentications per client address; empty: none"
    )
    auth_failures_per_credential: str = Field(
        "10/minute", description="failed authentications per credential; empty: none"
    )

    otel_service_name: str | None = Field(None, description="service.name of telemetry")
    otel_resource_attributes: str | None = Field(None, description="key=value,... resource")
    otel_exporter_otlp_endpoint: str | None = Field(None, description="OTLP collector URL")
    otel_exporter_otlp_protocol: Literal["grpc", "http/protobuf", "http/json"] | None = Field(
        None, description="OTLP protocol (SDK default: http/protobuf)"
    )
    otel_exporter_otlp_headers: Secret | None = Field(
        None, description="key=value,... headers sent to the collector"
    )
    otel_traces_exporter: str | None = Field(None, description="otlp, console or none")
    otel_metrics_exporter: str | None = Field(None, description="otlp, prometheus, console or none")
    otel_logs_exporter: str | None = Field(None, description="otlp, console or none")
    otel_traces_sampler: str | None = Field(None, description="e.g. parentbased_traceidratio")
    otel_traces_sampler_arg: str | None = Field(None, description="the sampler's argument")
    otel_propagators: str | None = Field(None, description="e.g. tracecontext,baggage")
    otel_metric_export_interval: Annotated[int, Field(gt=0)] | None = Field(
        None, description="milliseconds between metric exports"
    )
    otel_sdk_disabled: bool = Field(False, description="turn every OpenTelemetry signal off")

    @field_validator("rate_limits")
    @classmethod
    def _check_rate_limits(cls, value: str) -> str:
        for name, limit in parse_rate_limits(value).items():
            _check_limit(f"{name}={limit}", limit)
        return value.strip()

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        from bastion.clientaddr import parse_networks
        from bastion.errors import ConfigError

        try:
            parse_networks(value.split(","))
        except ConfigError as exc:
            raise ValueError("; ".join(exc.problems)) from None
        return value.strip()

    @field_validator("auth_failures_per_client", "auth_failures_per_credential")
    @classmethod
    def _check_failure_limit(cls, value: str) -> str:
        if value.strip():
            _check_limit(value, value)
        return value.strip()

    @field_validator("log_level", "log_format", "log_keys", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("http_addr")
    @classmethod
    def _check_address(cls, value: str) -> str:
        parse_address(value)
        return value.strip()

    @field_validator("admin_addr", "grpc_addr")
    @classmethod
    def _check_optional_address(cls, value: str, info: ValidationInfo) -> str:
        if value.strip():
            parse_address(value)
            # Listeners of one process must not share a port: name the pair that would.
            names = {"admin_addr": ("http_addr",), "grpc_addr": ("http_addr", "admin_addr")}
            for other in names[info.field_name or ""]:
                taken = info.data.get(other)
                if taken and _clash(value, taken):
                    raise ValueError(f"{value.strip()!r} is the port {other.upper()} listens on "
                                     f"({taken!r}); give each listener its own port")
        return value.strip()

    @field_validator("tls_cert_file", "tls_key_file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _check_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A field validator, not a model one, so the mismatch is listed with every other
        # problem; a certificate that failed its own check is absent and not reported twice.
        if "tls_cert_file" in info.data and (info.data["tls_cert_file"] is None) != (value is None):
            raise ValueError("TLS_CERT_FILE and TLS_KEY_FILE must be set together")
        return value


def _clash(a: str, b: str) -> bool:
    """Whether two listen addresses would bind the same port (port 0 picks a free one)."""
    (host_a, port_a), (host_b, port_b) = parse_address(a), parse_address(b)
    if port_a != port_b or port_a == 0:
        return False
    anywhere = ("0.0.0.0", "::")
    return host_a == host_b or host_a in anywhere or host_b in anywhere


def parse_rate_limits(value: str) -> dict[str, str]:
    """`"api_key=1000/hour, orders.create=20/minute"` as {name: limit}; ValueError if bad."""
    limits: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, sep, limit = item.partition("=")
        if not sep or not name.strip() or not limit.strip():
            raise ValueError(f"{item.strip()!r} must read name=limit, e.g. orders.create=20/minute")
        limits[name.strip()] = limit.strip()
    return limits


def _check_limit(where: str, limit: str) -> None:
    from bastion.security.ratelimit import parse_limit

    try:
        parse_limit(limit)
    except ValueError:
        raise ValueError(
            f"{where!r}: {limit!r} is not a rate limit; write e.g. 100/minute or 5 per second"
        ) from None
