"""HTTP middleware: one request scope for the logs, with Clue's `start` and `end` lines.

Each request gets a `request_id` — a valid incoming `X-Request-ID`, or a new one — that is
bound to every log line of the request and returned in the response's `X-Request-ID`.
Probe paths (`/livez`, `/readyz`, `/healthz`) are not logged by default, and URLs are
logged with the values of credential query parameters replaced by `REDACTED`, as
in spans.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable

from bastion import log
from bastion.debug._switch import Authorize, debug_header_enabled
from bastion.redact import credential_names, redact_query
from bastion.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DebugAuthorizer", "RequestLog"]

_VALID_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")

#: Decides whether a request may ask for its own debug logs (`X-Debug-Logs: on`).
DebugAuthorizer = Authorize


class RequestLog:
    """Scope each HTTP request's logs and write its `start` and `end` lines."""

    def __init__(
        self,
        app: ASGIApp,
        logger: log.Logger,
        *,
        exclude_paths: Iterable[str] = ("/livez", "/readyz", "/healthz"),
        credential_params: Iterable[str] = (),
        debug_authorizer: DebugAuthorizer | None = None,
    ) -> None:
        self.app = app
        self.logger = logger
        self.exclude = frozenset(exclude_paths)
        # The same names and marker as the tracing middleware: logs and spans agree.
        self.credential_params = credential_names(credential_params)
        self.debug_authorizer = debug_authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request inside its log scope, between its `start` and `end` lines."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logger = self.logger
        request_id = b""
        debug_header = False
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _VALID_ID.match(value):
                request_id = value
            elif name == b"x-debug-logs" and value.lower() == b"on":
                debug_header = True
        # Unique, not secret: the PRNG is enough, and reading urandom per request is slow.
        rid = request_id.decode("latin-1") if request_id else f"{random.getrandbits(64):016x}"
        rid_bytes = request_id or rid.encode("latin-1")
        scope["bastion.request_id"] = rid
        debug = False
        if debug_header:
            # The debug module's rule: a refusal (False, Unauthorized, Forbidden) only
            # means no debug logs, never a failed request.
            debug = await debug_header_enabled(scope, self.debug_authorizer)
        quiet = scope["path"] in self.exclude
        status = 0
        size = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                # The server's own error answers already carry it (the same id).
                if not any(name == b"x-request-id" for name, _ in headers):
                    message["headers"] = [*headers, (b"x-request-id", rid_bytes)]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        context = log.RequestContext(logger, {"request_id": rid}, debug=debug)
        failure: BaseException | None = None
        try:
            if quiet:
                await self.app(scope, receive, send_with_id)
                return
            start = time.perf_counter()
            url = scope["path"]
            qs = scope.get("query_string", b"")
            if qs:
                url += "?" + redact_query(qs.decode("latin-1"), self.credential_params)
            client = scope.get("client")
            logger.write_info("start", {
                "http.method": scope["method"],
                "http.url": url,
                "http.remote_addr": client[0] if client else "",
            })
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                end: dict[str, object] = {
                    "http.method": scope["method"],
                    "http.url": url,
                    "http.status": status,
                    "http.time_ms": round((time.perf_counter() - start) * 1000, 3),
                    "http.bytes": size,
                }
                extensions = scope.get("extensions")
                exchange = extensions.get("bastion.exchange") if extensions else None
                if exchange is not None and (exchange.aborted or not exchange.complete):
                    # Cut short (a write deadline, a client gone): say so, with the bytes
                    # the client could really have received, not those handed over.
                    end["aborted"] = True
                    end["http.bytes"] = exchange.body_bytes_written
                logger.write_info("end", end)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            context.leave(failure)
