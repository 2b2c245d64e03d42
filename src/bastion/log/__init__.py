"""Context logs for Bastion services: `from bastion import log; log.info("msg", key=value)`.

Lines carry the fields bound to the current context (`log.bind`, `log.fields`, the
request's id) and, inside an OpenTelemetry span, `trace_id` and `span_id`. See
the package's modules for the details; users import `bastion.log` only.
"""

from __future__ import annotations

from bastion.log._logger import (
    Logger,
    RequestContext,
    StdlibHandler,
    bind,
    current,
    debug,
    debug_enabled,
    error,
    fatal,
    fields,
    info,
    print,
    request_scope,
    route_stdlib,
    use,
    warn,
)

__all__ = [
    "Logger",
    "RequestContext",
    "StdlibHandler",
    "bind",
    "current",
    "debug",
    "debug_enabled",
    "error",
    "fatal",
    "fields",
    "info",
    "print",
    "request_scope",
    "route_stdlib",
    "use",
    "warn",
]
