"""The App's options, grouped by what they are about.

```python
app = bastion.App(api, services, config=load(Settings),
                  observe=Observe(request_log=RequestLogOptions(exclude=["/internal/*"])),
                  docs=Docs(page=None),
                  debug=Debug(mount="main", scheme="jwt", scopes=("debug",)))
```

Each has the defaults of a production service; `observe=False` and `docs=False` turn
the whole group off. Limits of the environment (body size, rate limits, threads,
Redis) come from `config`, their one home.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bastion.http.requestlog import DebugAuthorizer, RequestLogOptions

__all__ = ["Debug", "Docs", "Observe", "RequestLogOptions"]


@dataclass(frozen=True, slots=True)
class Observe:
    """What the App observes of every request: spans and metrics, request logs, payloads.

    `request_log=False` drops the `start` and `end` lines only: the request's log scope,
    its request id and the debug switch stay.
    """

    tracing: bool = True
    request_log: bool | RequestLogOptions = True
    #: Bytes of a payload or result a debug payload log writes, at most.
    payload_log_max: int = 1024
    #: Route the stdlib `logging` records of libraries through the App's logger.
    route_stdlib_logs: bool = True
    #: Seconds a round of health checks is reused for (a storm of probes costs one).
    health_cache_ttl: float = 1.0

    @property
    def log_options(self) -> RequestLogOptions:
        """The request log's options (the defaults when `request_log` is a bool)."""
        rl = self.request_log
        return rl if isinstance(rl, RequestLogOptions) else RequestLogOptions()

    @property
    def lines(self) -> bool:
        """Whether `start` and `end` lines are written."""
        return bool(self.request_log)


@dataclass(frozen=True, slots=True)
class Docs:
    """Where the OpenAPI document and the docs page are served (None: not served)."""

    openapi: str | None = "/openapi.json"
    page: str | None = "/docs"


@dataclass(frozen=True, slots=True)
class Debug:
    """Where `/debug`, the profiles and `/metrics` are served, and who may use them.

    `mount="admin"` serves them on the admin listener only (ADMIN_ADDR, loopback by
    default), as Clue does; `mount="main"` serves them on the public port behind the
    design's security scheme `scheme` with `scopes`. `authorizer` decides who may ask for
    a request's own debug logs (by default, a caller who passes `scheme`).
    """

    mount: Literal["admin", "main"] = "admin"
    scheme: str | None = None
    scopes: tuple[str, ...] = field(default=())
    authorizer: DebugAuthorizer | None = None
