"""Context logs for Bastion services: `from bastion import log; log.info("msg", key=value)`.

Lines carry the fields bound to the current context (`log.bind`, `log.fields`, the
request's id) and, inside an OpenTelemetry span, `trace_id` and `span_id`. See
`bastion.observe.log` for the details; this module is the public name.
"""

from __future__ import annotations

from bastion.observe.log import (
    Logger,
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
