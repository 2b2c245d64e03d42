"""Add Strict-Transport-Security to every HTTPS response."""

from __future__ import annotations

from bastion.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HSTS"]


class HSTS:
    """ASGI middleware: tell browsers to use HTTPS only, on responses served over HTTPS.

    Browsers ignore the header on plain HTTP, and sending it there would only confuse, so
    plain-HTTP responses pass unchanged.
    """

    __slots__ = ("app", "header")

    def __init__(self, app: ASGIApp, max_age: float, *, include_subdomains: bool = False) -> None:
        self.app = app
        value = f"max-age={int(max_age)}"
        if include_subdomains:
            value += "; includeSubDomains"
        self.header = (b"strict-transport-security", value.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, adding the header to the response start on HTTPS."""
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_hsts)
