"""The records service and the implementation of its design's server interceptors."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import bastion


class Records:
    """Records in memory, by id; `loads` counts how often each was read from here."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}

    async def create(self, p: Any) -> dict[str, Any]:
        row = {"id": str(uuid.uuid4()), "tenantID": p.tenantID, "value": p.value, "loads": 1}
        self._rows[row["id"]] = row
        return {**row, "traceID": p.traceID}

    async def get(self, p: Any) -> dict[str, Any]:
        row = self._rows.get(p.recordID)
        if row is None or row["tenantID"] != p.tenantID:
            raise bastion.make_error("not_found", f"no record {p.recordID!r}")
        row["loads"] += 1
        return {**row, "traceID": p.traceID}


    async def stream(self, p: Any, messages: bastion.endpoint.streams.Stream[Any]) -> Any:
        async for message in messages:
            yield {"value": message.value.upper(), "traceID": message.traceID}
        yield {"value": "done"}  # no trace id: TraceBidirectionalStream gives it one


class RecordsInterceptors:
    """The server interceptors the design applies to service `records`."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, Any]] = {}

    async def trace_request(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        """Give the request a trace id unless the caller sent one."""
        p = info.payload()
        if p.traceID is None:
            p.traceID = str(uuid.uuid4())
        return await next(info.raw_payload)

    async def tenant_check(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        """Refuse a caller asking for another tenant's records."""
        p = info.payload()
        if p.tenant != p.tenantID:
            raise bastion.make_error("forbidden", f"tenant {p.tenant!r} may not read "
                                     f"the records of tenant {p.tenantID!r}")
        return await next(info.raw_payload)

    async def cache(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        """Answer a record already loaded from the cache; stamp what it stores."""
        key = info.payload().recordID
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = await next(info.raw_payload)
        info.result(result).cachedAt = datetime.datetime.now(datetime.UTC).isoformat()
        self._cache[key] = result
        return result

    async def trace_bidirectional_stream(self, info: bastion.InterceptorInfo,
                                         next: bastion.Next) -> Any:
        """Give each message of the stream, both ways, a trace id when it has none."""
        if info.call_type == "streaming_recv":
            message = await next(info.raw_payload)
            if message is not None and info.streaming_payload(message).traceID is None:
                info.streaming_payload(message).traceID = str(uuid.uuid4())
            return message
        sent = info.streaming_result()
        if sent.traceID is None:
            sent.traceID = str(uuid.uuid4())
        return await next(info.raw_payload)
