"""The transport contract every layer builds on: ASGI aliases, endpoints and middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.endpoint import MethodInfo

__all__ = [
    "ASGIApp",
    "Endpoint",
    "EndpointMiddleware",
    "HTTPMiddleware",
    "Message",
    "Receive",
    "Scope",
    "Send",
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
