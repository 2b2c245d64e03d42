"""Endpoint middleware: `service` and `method` on every log line of a call."""

from __future__ import annotations

from typing import Any

from bastion import log
from bastion.endpoint import MethodInfo
from bastion.types import Endpoint

__all__ = ["log_fields"]


def log_fields(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
    """Bind `service` and `method` to the logs of each call of `endpoint` from its start."""
    service, method = info.service, info.name

    async def with_fields(payload: Any) -> Any:
        # Bound, not scoped: the fields stay for the rest of the request (its `end` log
        # line included) and go with the request's log context.
        log.bind(service=service, method=method)
        return await endpoint(payload)

    return with_fields
