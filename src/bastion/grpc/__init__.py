"""The gRPC transport: the design's `GRPC()` methods served by grpcio, from the same core.

A sibling of `bastion.http` on the same seam (`bastion.operations`): the payload is built
from the request message and its metadata and validated as on HTTP, the same endpoint
chain runs (log fields, payload logs, your endpoint middleware, the security layer, the
method), and failures are rendered as gRPC statuses with details
(`bastion.grpc._status`). `bastion.run` serves it on GRPC_ADDR beside the HTTP listener;
`bastion gen proto` writes the `.proto` files a client compiles (`proto_files`).

Users rarely touch this package: an `App` whose design has gRPC methods makes its
`GRPCTransport` (`app.grpc_transport()`), and the server starts, drains and stops it.
Install the `grpc` extra: `pip install 'bastion[grpc]'`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from bastion import log
from bastion.dsl.expr import APIExpr
from bastion.grpc._health import HealthService
from bastion.grpc._metadata import Authorize
from bastion.grpc._proto import ProtoFile
from bastion.grpc._proto_build import proto_files
from bastion.grpc._service import InternalHook, RPCHandlers
from bastion.operations import Operations

__all__ = ["GRPCTransport", "ProtoFile", "proto_files"]


class GRPCTransport:
    """One App's gRPC transport: its rpcs, `grpc.health.v1` and reflection, for a listener.

    `register(server)` adds them to a `grpc.aio.Server`; the listener calls
    `begin_shutdown()` (health turns NOT_SERVING), `end_streams()`, `wait_idle()` and
    `cancel_all()` while it drains.
    """

    def __init__(
        self,
        api: APIExpr,
        operations: Operations,
        *,
        logger: log.Logger,
        healthy: Callable[[], Awaitable[bool]],
        telemetry: Any = None,
        lines: bool = True,
        buffered: bool = False,
        authorize: Authorize | None = None,
        on_internal: InternalHook,
        client_address: Any = None,
    ) -> None:
        self.files = proto_files(api)
        self.rpcs = RPCHandlers(api.name, self.files, operations, logger=logger,
                                telemetry=telemetry, lines=lines, buffered=buffered,
                                authorize=authorize, on_internal=on_internal,
                                client_address=client_address)
        self.health = HealthService(healthy, self.rpcs.service_names)

    @property
    def service_names(self) -> list[str]:
        """The design's gRPC services by full name (`orders.Orders`)."""
        return self.rpcs.service_names

    @property
    def active(self) -> int:
        """Calls in progress."""
        return len(self.rpcs.calls)

    def register(self, server: grpc.aio.Server, *, reflection: bool,
                 unary_timeout: float | None = None) -> None:
        """Serve the rpcs, health (and reflection, when asked) on `server`.

        `unary_timeout` caps the deadline of a unary call (WRITE_TIMEOUT); streams have
        only the client's.
        """
        self.rpcs.settings.unary_timeout = unary_timeout
        server.add_generic_rpc_handlers(tuple(self.rpcs.handlers))
        self.health.add_to(server)
        if reflection:
            from grpc_reflection.v1alpha import reflection as grpc_reflection

            names = (*self.service_names, "grpc.health.v1.Health",
                     grpc_reflection.SERVICE_NAME)
            grpc_reflection.enable_server_reflection(names, server,
                                                     pool=self.rpcs.contract.pool)

    def begin_shutdown(self) -> None:
        """Shutdown began: health answers NOT_SERVING from now on."""
        self.health.begin_shutdown()

    def end_streams(self) -> int:
        """End every stream now with UNAVAILABLE (health `Watch` ones too); return how many."""
        self.health.end_watches()
        return self.rpcs.end_streams()

    def cancel_all(self) -> int:
        """Cancel every call still running (UNAVAILABLE); return how many."""
        return self.rpcs.cancel_all()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the calls in progress; return whether all ended."""
        return await self.rpcs.wait_idle(timeout)
