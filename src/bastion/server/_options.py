"""The server's settings, resolved once from a `Config`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bastion.config import Config, format_byte_size, format_duration, parse_address

__all__ = ["ServerOptions"]


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Addresses, connection limits and shutdown timing of a server, in seconds and bytes.

    The limits of a request's content (its body size) belong to the app, which reads it.

    Build it from a configuration with `ServerOptions.from_config(config)`; the defaults
    are those of `Config`.
    """

    http_host: str = "0.0.0.0"
    http_port: int = 8080
    admin_host: str | None = "127.0.0.1"
    admin_port: int = 8081
    read_header_timeout: float = 10.0
    read_timeout: float = 30.0
    write_timeout: float = 60.0
    idle_timeout: float = 120.0
    max_header_bytes: int = 1024 * 1024
    max_url_bytes: int = 16 * 1024
    ws_max_message_bytes: int = 1024 * 1024
    ws_ping_interval: float = 20.0
    ws_idle_timeout: float = 600.0
    max_concurrency: int | None = None
    shutdown_timeout: float = 30.0
    shutdown_delay: float = 0.0
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    hsts_max_age: float = 0.0
    hsts_include_subdomains: bool = False
    workers: int = 1
    backlog: int = 2048
    # The gRPC listener (GRPC_ADDR; None: not served) and its limits.
    grpc_host: str | None = "0.0.0.0"
    grpc_port: int = 8082
    grpc_max_recv_message_bytes: int = 4 * 1024 * 1024
    grpc_max_send_message_bytes: int = 4 * 1024 * 1024
    grpc_keepalive_time: float = 7200.0
    grpc_keepalive_timeout: float = 20.0
    grpc_keepalive_min_time: float = 300.0
    grpc_max_connection_idle: float = 0.0
    grpc_max_connection_age: float = 0.0
    grpc_max_connection_age_grace: float = 0.0
    grpc_reflection: str = "auto"

    @classmethod
    def from_config(cls, config: Config) -> ServerOptions:
        """Return the server options a configuration asks for."""
        http_host, http_port = parse_address(config.http_addr)
        admin_host: str | None = None
        admin_port = 0
        if config.admin_addr:
            admin_host, admin_port = parse_address(config.admin_addr)
        grpc_host: str | None = None
        grpc_port = 0
        if config.grpc_addr:
            grpc_host, grpc_port = parse_address(config.grpc_addr)
        return cls(
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            grpc_max_recv_message_bytes=config.grpc_max_recv_message_bytes,
            grpc_max_send_message_bytes=config.grpc_max_send_message_bytes,
            grpc_keepalive_time=config.grpc_keepalive_time,
            grpc_keepalive_timeout=config.grpc_keepalive_timeout,
            grpc_keepalive_min_time=config.grpc_keepalive_min_time,
            grpc_max_connection_idle=config.grpc_max_connection_idle,
            grpc_max_connection_age=config.grpc_max_connection_age,
            grpc_max_connection_age_grace=config.grpc_max_connection_age_grace,
            grpc_reflection=config.grpc_reflection,
            http_host=http_host,
            http_port=http_port,
            admin_host=admin_host,
            admin_port=admin_port,
            read_header_timeout=config.read_header_timeout,
            read_timeout=config.read_timeout,
            write_timeout=config.write_timeout,
            idle_timeout=config.idle_timeout,
            max_header_bytes=config.max_header_bytes,
            max_url_bytes=config.max_url_bytes,
            ws_max_message_bytes=config.ws_max_message_bytes,
            ws_ping_interval=config.ws_ping_interval,
            ws_idle_timeout=config.ws_idle_timeout,
            max_concurrency=config.max_concurrency,
            shutdown_timeout=config.shutdown_timeout,
            shutdown_delay=config.shutdown_delay,
            tls_cert_file=config.tls_cert_file,
            tls_key_file=config.tls_key_file,
            hsts_max_age=config.hsts_max_age,
            hsts_include_subdomains=config.hsts_include_subdomains,
            workers=config.workers,
        )

    @property
    def tls(self) -> bool:
        """Whether the API is served over HTTPS."""
        return self.tls_cert_file is not None and self.tls_key_file is not None

    def limits_summary(self) -> str:
        """Return the active limits on one line, as the startup message shows them."""
        d, b = format_duration, format_byte_size
        concurrency = str(self.max_concurrency) if self.max_concurrency else "unlimited"
        return (
            f"read_header={d(self.read_header_timeout)} read={d(self.read_timeout)} "
            f"write={d(self.write_timeout)} idle={d(self.idle_timeout)} "
            f"max_header={b(self.max_header_bytes)} max_url={b(self.max_url_bytes)} "
            f"max_concurrency={concurrency} shutdown_delay={d(self.shutdown_delay)} "
            f"shutdown_timeout={d(self.shutdown_timeout)}"
        )
