"""Debug endpoints: the debug-logs switch, per-request debug, payload logs and profiling."""

from bastion.debug._pprof import (
    PPROF_PREFIX,
    CPUProfile,
    ProfilerBusyError,
    Profiling,
    is_pprof_path,
    pprof_app,
)
from bastion.debug._switch import (
    DEBUG_HEADER,
    DEBUG_PATH,
    Authorize,
    PayloadMethodInfo,
    debug_app,
    debug_header_enabled,
    is_debug_path,
    payload_logger,
)

__all__ = [
    "DEBUG_HEADER",
    "DEBUG_PATH",
    "PPROF_PREFIX",
    "Authorize",
    "CPUProfile",
    "PayloadMethodInfo",
    "ProfilerBusyError",
    "Profiling",
    "debug_app",
    "debug_header_enabled",
    "is_debug_path",
    "is_pprof_path",
    "payload_logger",
    "pprof_app",
]
