"""The gRPC listener: grpcio's asyncio server on GRPC_ADDR, beside the HTTP listener.

The server opens it after the HTTP listener when the app has a gRPC transport
(`App.grpc_transport()`), with the limits of the configuration: message sizes,
keep-alive pings, connection idle time and age, MAX_CONCURRENCY, TLS from the same
TLS_CERT_FILE / TLS_KEY_FILE. Its drain runs with the HTTP one, on the same
SHUTDOWN_TIMEOUT: streams are ended at once with UNAVAILABLE (the client reconnects to
another server), grpcio stops taking calls, the unary calls in flight get the timeout to
finish, and whatever still runs then is cancelled and answered UNAVAILABLE too.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import sys
from pathlib import Path
from typing import Any

from bastion.config import format_address, format_duration
from bastion.server._options import ServerOptions

__all__ = ["GRPCListener", "reflection_on"]

_MS = 1000


def reflection_on(options: ServerOptions) -> bool:
    """Whether reflection is served: GRPC_REFLECTION, or for `auto` a developer's machine.

    `auto` is on when GRPC_ADDR is a loopback address or stderr is a terminal, and off
    otherwise (a container, a service manager: production).
    """
    if options.grpc_reflection != "auto":
        return options.grpc_reflection == "on"
    host = options.grpc_host or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return loopback or sys.stderr.isatty()


def channel_options(options: ServerOptions) -> list[tuple[str, Any]]:
    """grpcio's server arguments for the configured limits."""
    out: list[tuple[str, Any]] = [
        # One process per port, unless workers share it: a port in use is then an error.
        ("grpc.so_reuseport", 1 if options.workers > 1 else 0),
        ("grpc.max_receive_message_length", options.grpc_max_recv_message_bytes),
        ("grpc.max_send_message_length", options.grpc_max_send_message_bytes),
        ("grpc.keepalive_time_ms", int(options.grpc_keepalive_time * _MS)),
        ("grpc.keepalive_timeout_ms", int(options.grpc_keepalive_timeout * _MS)),
        ("grpc.http2.min_recv_ping_interval_without_data_ms",
         int(options.grpc_keepalive_min_time * _MS)),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
    if options.grpc_max_connection_idle > 0:
        out.append(("grpc.max_connection_idle_ms", int(options.grpc_max_connection_idle * _MS)))
    if options.grpc_max_connection_age > 0:
        out.append(("grpc.max_connection_age_ms", int(options.grpc_max_connection_age * _MS)))
        if options.grpc_max_connection_age_grace > 0:
            out.append(("grpc.max_connection_age_grace_ms",
                        int(options.grpc_max_connection_age_grace * _MS)))
    return out


class GRPCListener:
    """Serves one app's gRPC transport; `start`, then `drain` on shutdown."""

    def __init__(self, transport: Any, options: ServerOptions, log: Any) -> None:
        self.transport = transport
        self.options = options
        self._log = log
        self._server: Any = None
        self.port = 0

    async def start(self, context: contextvars.Context) -> str:
        """Bind GRPC_ADDR and serve; return the listener's URL. Raises ListenError."""
        import grpc

        from bastion.server._server import ListenError

        options = self.options
        server = grpc.aio.server(options=channel_options(options),
                                 maximum_concurrent_rpcs=options.max_concurrency)
        self.transport.register(server, reflection=reflection_on(options),
                                unary_timeout=options.write_timeout)
        host = options.grpc_host or "0.0.0.0"
        address = format_address(host, options.grpc_port)
        tls = options.tls_cert_file is not None and options.tls_key_file is not None
        try:
            if tls:
                creds = grpc.ssl_server_credentials([(
                    Path(str(options.tls_key_file)).read_bytes(),
                    Path(str(options.tls_cert_file)).read_bytes(),
                )])
                self.port = server.add_secure_port(address, creds)
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ListenError(0, f"cannot listen on {address} (GRPC_ADDR): the address is "
                              f"in use or not available ({exc})") from None
        # Calls start from the lifespan's context, as HTTP requests do: grpcio's tasks are
        # made by its serving task, which this one starts.
        await asyncio.get_running_loop().create_task(server.start(), context=context)
        self._server = server
        return f"{'grpcs' if tls else 'grpc'}://{format_address(host, self.port)}"

    async def drain(self, timeout: float, grace: float) -> None:
        """Stop taking calls, end streams, give the rest `timeout`, cancel what still runs."""
        server = self._server
        if server is None:
            return
        transport = self.transport
        streams = transport.end_streams()
        running = transport.active
        # grpcio stops taking calls now (GOAWAY) and waits for the ones in flight.
        stop = asyncio.ensure_future(server.stop(timeout + grace))
        self._log("info", "grpc listener closed; draining", calls=running, streams_ended=streams,
                  shutdown_timeout=format_duration(timeout))
        if not await transport.wait_idle(timeout):
            count = transport.cancel_all()
            self._log("warn", "cancelling gRPC calls still running after SHUTDOWN_TIMEOUT",
                      count=count)
            await transport.wait_idle(grace)
        await stop
        self._server = None

    async def close(self) -> None:
        """Stop at once, without a drain."""
        if self._server is not None:
            await self._server.stop(None)
            self._server = None
