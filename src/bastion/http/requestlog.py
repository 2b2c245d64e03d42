"""HTTP middleware: one request scope for the logs, with Clue's `start` and `end` lines.

`RequestLog` is the request observer (`bastion.http.observer`) with its log part only,
for an ASGI app of one's own; the App runs one observer for its logs, spans and metrics.
Each request gets a `request_id` — a valid incoming `X-Request-ID`, or a new one — that is
bound to every log line of the request and returned in the response's `X-Request-ID`,
and the App's Logger (with its buffering and the request's debug flag) for every line
its handlers write. The `start` and `end` lines are one option of that scope: off, the
scope stays. Probe paths (`/livez`, `/readyz`, `/healthz`) are not logged by default,
URLs are logged with the values of sensitive query parameters replaced by `REDACTED`, as
in spans, and an error response's name and id are on its `end` line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bastion import log
from bastion.clientaddr import ClientAddress
from bastion.debug._switch import Authorize
from bastion.http.observer import DEFAULT_EXCLUDE_PATHS, RequestObserver
from bastion.redact import Redactor
from bastion.types import ASGIApp

__all__ = ["DEFAULT_EXCLUDE_PATHS", "DebugAuthorizer", "RequestLog", "RequestLogOptions"]

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


class RequestLog(RequestObserver):
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
        super().__init__(app, logger=logger, lines=lines, exclude_paths=exclude_paths,
                         credential_params=credential_params, redactor=redactor,
                         debug_authorizer=debug_authorizer, buffered=buffered,
                         client_address=client_address)
