"""Health checks: `Checker`, pingers and the `/livez`, `/readyz`, `/healthz` ASGI app."""

from bastion.health._checker import (
    PROBE_PATHS,
    Check,
    Checker,
    HealthReport,
    HTTPPinger,
    Pinger,
    PingError,
    RedisPinger,
    SQLPinger,
    health_app,
)

__all__ = [
    "PROBE_PATHS",
    "Check",
    "Checker",
    "HTTPPinger",
    "HealthReport",
    "PingError",
    "Pinger",
    "RedisPinger",
    "SQLPinger",
    "health_app",
]
