"""The transport contract every layer builds on: ASGI aliases, endpoints and middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bastion.config import Config
    from bastion.endpoint import MethodInfo
    from bastion.log import Logger

__all__ = [
    "ERROR_SCOPE_KEY",
    "ASGIApp",
    "Endpoint",
    "EndpointMiddleware",
    "ErrorNote",
    "HTTPMiddleware",
    "Message",
    "Receive",
    "Refusal",
    "Scope",
    "Send",
    "ServedApp",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: A transport-independent call of one service method: payload in, result out.
Endpoint = Callable[[Any], Awaitable[Any]]
#: Wraps an endpoint; called once per method at startup with what the design says of it.
EndpointMiddleware = Callable[[Endpoint, "MethodInfo"], Endpoint]
#: Wraps the ASGI app; `app.use(mw)` calls `mw(inner_app)` once at startup.
HTTPMiddleware = Callable[[ASGIApp], ASGIApp]


class ErrorNote(NamedTuple):
    """The error a response carries, left in the ASGI scope by whoever answered it.

    The request log writes its name and id on the `end` line; the tracing middleware
    sets `error.type` to its name and records `error` (the exception a method raised,
    when there is one) on the server span.
    """

    name: str
    id: str
    error: BaseException | None = None


#: The scope key of a response's `ErrorNote`.
ERROR_SCOPE_KEY = "bastion.error"


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error the server answers before or instead of the app: 400, 408, 414, 431, 503...

    `method` and `path` are None when the request was too broken to tell them;
    `request_id` is the client's valid `X-Request-ID`, or "" (then the app makes one).
    """

    status: int
    name: str
    message: str
    method: str | None
    path: str | None
    client: str | None
    request_id: str
    temporary: bool = False
    timeout: bool = False
    retry_after: int | None = None


@runtime_checkable
class ServedApp(Protocol):
    """What Bastion's server uses of an app beyond ASGI; `bastion.App` implements it.

    Any other ASGI app is served too, with defaults: its ASGI lifespan, no admin app,
    server errors in Bastion's JSON shape, the server's lines in the default logger, the
    configuration read from the environment, and no gRPC.
    """

    title: str
    admin_app: ASGIApp | None
    logger: Logger
    #: The configuration the app was made with; None: `run` reads one from the environment.
    config: Config | None

    def links(self) -> Mapping[str, str]:
        """Paths worth announcing at startup, by name (e.g. {"docs": "/docs"})."""
        ...

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        """Startup and shutdown around serving."""
        ...

    def begin_shutdown(self) -> None:
        """Shutdown began: readiness answers 503 from now on."""
        ...

    def grpc_transport(self) -> Any:
        """The app's `bastion.grpc.GRPCTransport`, which the server starts; None: no gRPC."""
        ...

    def refusal(self, refusal: Refusal) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """Log and count an error the server answers itself; return its headers and body."""
        ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        ...
