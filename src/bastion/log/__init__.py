"""Context logs for Bastion services: `from bastion import log; log.info("msg", key=value)`.

Lines carry the fields bound to the current context (`log.bind`, `log.fields`, the
request's id) and, inside an OpenTelemetry span, `trace_id` and `span_id`. A `Logger`
holds the options (level, outputs and formats, key names, caps, buffering); see the
package's modules for the details; users import `bastion.log` only.
"""

from __future__ import annotations

from bastion.log._context import (
    RequestContext,
    bind,
    current,
    debug,
    debug_enabled,
    error,
    fatal,
    fields,
    flush,
    info,
    print,
    use,
    warn,
)
from bastion.log._format import STACK_KEY, STANDARD_KEYS, Entry, FormatFunc, Keys
from bastion.log._logger import Buffering, KeyFunc, Logger, Output, is_tracing
from bastion.log._stack import DEFAULT_STACK_SIZE, stack_text
from bastion.log._stdlib import StdlibHandler, route_stdlib
from bastion.log._writer import WriterStats

__all__ = [
    "DEFAULT_STACK_SIZE",
    "STACK_KEY",
    "STANDARD_KEYS",
    "Buffering",
    "Entry",
    "FormatFunc",
    "KeyFunc",
    "Keys",
    "Logger",
    "Output",
    "RequestContext",
    "StdlibHandler",
    "WriterStats",
    "bind",
    "current",
    "debug",
    "debug_enabled",
    "error",
    "fatal",
    "fields",
    "flush",
    "info",
    "is_tracing",
    "print",
    "route_stdlib",
    "stack_text",
    "use",
    "warn",
]
