"""HTTP middleware: one request scope for the logs, with Clue's `start` and `end` lines.

Each request gets a `request_id` — a valid incoming `X-Request-ID`, or a new one — that is
bound to every log line of the request and returned in the response's `X-Request-ID`,
and the App's Logger (with its buffering and the request's debug flag) for every line
its handlers write. The `start` and `end` lines are one option of that scope: off, the
scope stays. Probe paths (`/livez`, `/readyz`, `/healthz`) are not logged by default,
URLs are logged with the values of sensitive query parameters replaced by `REDACTED`, as
in spans, and an error response's name and id are on its `end` line.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from bastion import log
from bastion._ids import ID_BITS, id_bits, is_valid_request_id
from bastion.clientaddr import ClientAddress
from bastion.debug._switch import Authorize, debug_header_enabled
from bastion.redact import Redactor, redactor_with
from bastion.types import ERROR_SCOPE_KEY, ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_EXCLUDE_PATHS", "DebugAuthorizer", "RequestLog", "RequestLogOptions"]

#: Paths whose requests get no start and end lines unless told otherwise: probes.
DEFAULT_EXCLUDE_PATHS: Final = ("/livez", "/readyz", "/healthz")

#: Decides whether a request may ask for its own debug logs (`X-Debug-Logs: on`).
DebugAuthorizer = Authorize



@dataclass(frozen=True)
class RequestLogOptions:
    """How the request log writes its lines (`App(observe=Observe(request_log=...))`).

    `exclude`: paths with no lines — exact paths, globs (`/static/*`) or compiled regular
    expressions (searched, as Clue's `WithPathFilter`); replaces the default probe paths.
    `buffered`: the lines go through request buffering like `log.info` (Clue's
    `WithRequestLogFunc(log.Info)`); by default they are never held, as `log.print`.
    Who `client.address` names behind a proxy is the App's `TRUSTED_PROXIES` setting
    (`bastion.clientaddr`), the same for the logs, the spans and the security layer.
    """

    exclude: Iterable[str | re.Pattern[str]] = DEFAULT_EXCLUDE_PATHS
    buffered: bool = False


class RequestLog:
    """Scope each HTTP request's logs and write its `start` and `end` lines.

    `lines=False` keeps the scope (Logger, request id, debug switch) and writes no lines.
    """

    def __init__(
        self,
        app: ASGIApp,
        logger: log.Logger,
        *,
        exclude_paths: Iterable[str | re.Pattern[str]] = DEFAULT_EXCLUDE_PATHS,
        credential_params: Iterable[str] = (),
        redactor: Redactor | None = None,
        debug_authorizer: DebugAuthorizer | None = None,
        lines: bool = True,
        buffered: bool = False,
        client_address: ClientAddress | None = None,
    ) -> None:
        self.app = app
        self.logger = logger
        self.exact, self.patterns = _compile_exclude(exclude_paths)
        # The same names and marker as the tracing middleware: logs and spans agree.
        base = redactor or redactor_with()
        self.redactor = base.with_names(credential_params)
        self.debug_authorizer = debug_authorizer
        self.lines = lines
        self.buffered = buffered
        self.client_address = client_address or ClientAddress()

    def excluded(self, path: str) -> bool:
        """Return whether requests for `path` get no start and end lines."""
        if path in self.exact:
            return True
        return self.patterns is not None and self.patterns.search(path) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request inside its log scope, between its `start` and `end` lines."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logger = self.logger
        request_id = b""
        debug_header = False
        for name, value in scope["headers"]:
            if name == b"x-request-id" and is_valid_request_id(value):
                request_id = value
            elif name == b"x-debug-logs" and value.lower() == b"on":
                debug_header = True
        # `new_id()` inlined: on this path the call would cost as much as the id.
        rid = request_id.decode("latin-1") if request_id else f"{id_bits(ID_BITS):016x}"
        rid_bytes = request_id or rid.encode("latin-1")
        scope["bastion.request_id"] = rid
        debug = False
        if debug_header:
            # The debug module's rule: a refusal (False, Unauthorized, Forbidden) only
            # means no debug logs, never a failed request.
            debug = await debug_header_enabled(scope, self.debug_authorizer)
        quiet = not self.lines or self.excluded(scope["path"])
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

        context = log.RequestContext(logger, {"request_id": rid}, debug=debug).enter()
        failure: BaseException | None = None
        try:
            if quiet:
                await self.app(scope, receive, send_with_id)
                return
            start = time.perf_counter()
            method = scope["method"]
            path = scope["path"]
            qs = scope.get("query_string", b"")
            query = self.redactor.query(qs.decode("latin-1")) if qs else None
            begin = {"http.request.method": method, "url.path": path}
            if query is not None:
                begin["url.query"] = query
            begin["client.address"] = self.client_address(scope)
            logger.write_info("start", begin, hold=self.buffered)
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                end: dict[str, object] = {"http.request.method": method, "url.path": path}
                if query is not None:
                    end["url.query"] = query
                route = scope.get("bastion.route")
                if route is not None:
                    end["http.route"] = route
                end["http.response.status_code"] = status
                end["http.time_ms"] = round((time.perf_counter() - start) * 1000, 3)
                end["http.response.body.size"] = size
                # Keys in the standard order, as the log writes them: the fast path's shape.
                end["client.address"] = begin["client.address"]
                note = scope.get(ERROR_SCOPE_KEY)
                if note is not None:
                    end["error.type"], end["error.id"] = note.name, note.id
                extensions = scope.get("extensions")
                exchange = extensions.get("bastion.exchange") if extensions else None
                if exchange is not None and (exchange.aborted or not exchange.complete):
                    # Cut short (a write deadline, a client gone): say so, with the body
                    # bytes the kernel really took, not those handed over.
                    end["aborted"] = True
                    end["http.response.body.size"] = exchange.body_bytes_written
                logger.write_info("end", end, hold=self.buffered)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            context.leave(failure)


def _compile_exclude(
    patterns: Iterable[str | re.Pattern[str]],
) -> tuple[frozenset[str], re.Pattern[str] | None]:
    exact: set[str] = set()
    regexes: list[str] = []
    for pattern in patterns:
        if isinstance(pattern, re.Pattern):
            regexes.append(pattern.pattern)
        elif any(c in pattern for c in "*?["):
            regexes.append("^" + fnmatch.translate(pattern))
        else:
            exact.add(pattern)
    combined = re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None
    return frozenset(exact), combined
