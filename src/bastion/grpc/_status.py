"""What a refused or failed call answers over gRPC: a status code, a message, and details.

The same exceptions HTTP renders as statuses are rendered here as gRPC codes:

| raised | code |
| --- | --- |
| `InvalidPayload` (a bad message, metadata or streamed message) | INVALID_ARGUMENT |
| `Unauthorized` (missing or bad credential) | UNAUTHENTICATED |
| `Forbidden` (missing scopes, a refused principal) | PERMISSION_DENIED |
| `RateLimited` (a request limit, the brute-force lockout) | RESOURCE_EXHAUSTED |
| `RateLimited` with reason `unavailable` (the limiter's store is down) | UNAVAILABLE |
| a design error (`ServiceError`) | the design's `Response("name", Code...)`, else Goa's |
| | rule: UNAVAILABLE if temporary, DEADLINE_EXCEEDED if a timeout, INTERNAL if a fault, |
| | UNKNOWN otherwise |
| anything else (a bug) | INTERNAL, with an id matching the log line |

The details (`grpc-status-details-bin`, a `google.rpc.Status`) carry, in this order,
Goa's `goapb.ErrorResponse` (name, id, msg, temporary, timeout, fault: what Goa clients
decode), a `google.rpc.ErrorInfo` (reason: the error's name; domain: the API's name;
metadata: its id, and the missing scopes of a refusal), then a `google.rpc.BadRequest`
naming every bad field, or a `google.rpc.RetryInfo` saying when a limit resets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from bastion._ids import new_id
from bastion.errors import Forbidden, ServiceError, Unauthorized
from bastion.operations import InvalidPayload
from bastion.security import RateLimited

__all__ = ["CODES", "DETAILS_KEY", "Failure", "failure_of"]

#: Each status code by its number.
CODES: Final = {c.value[0]: c for c in grpc.StatusCode}
#: The trailing metadata key of a status's details (a serialized `google.rpc.Status`).
DETAILS_KEY: Final = "grpc-status-details-bin"

#: Design error name -> (code, temporary, timeout, fault).
ErrorTable = Mapping[str, tuple[int, bool, bool, bool]]


@dataclass(frozen=True, slots=True)
class Failure:
    """One call's failure as gRPC says it, and what logs and spans say of it."""

    code: grpc.StatusCode
    message: str
    name: str  # the error's name (`not_found`, `invalid_argument`, `internal`...)
    id: str
    details: bytes  # the serialized google.rpc.Status
    error: BaseException | None  # what the method or the security layer raised
    internal: bool = False  # a bug: log it with its stack


def failure_of(
    exc: BaseException,
    errors: ErrorTable,
    *,
    domain: str,
    goa_error: Any,
    rename: Callable[[str], tuple[str, str]],
    error_name: Callable[[ServiceError], str | None],
) -> Failure:
    """The gRPC answer to `exc`, which it leaves as it is.

    `rename(path)` gives a bad field's (name, where) as the client sent it;
    `error_name(err)` a design error's name, read from its value when raised without one
    (`Operation.error_name`).
    """
    if isinstance(exc, InvalidPayload):
        bad = error_details_pb2.BadRequest()
        named = []
        for e in exc.errors:
            field, where = rename(e.field)
            bad.field_violations.add(field=field, description=e.message)
            named.append(f"{field} ({where}): {e.message}" if where != "message" else
                         f"{field}: {e.message}")
        message = "invalid request: " + "; ".join(named)
        return _failure(3, message, "invalid_argument", domain, goa_error, extra=[bad],
                        error=None)
    if isinstance(exc, ServiceError):
        name = error_name(exc)
        known = errors.get(name) if name is not None else None
        if name is None or known is None:
            return _internal(exc, domain, goa_error)  # an error the design does not declare
        code, temporary, timeout, fault = known
        return _failure(code, exc.message, name, domain, goa_error, error=exc,
                        error_id=exc.id, temporary=temporary, timeout=timeout, fault=fault)
    if isinstance(exc, Unauthorized):
        return _failure(16, exc.message, "unauthorized", domain, goa_error, error=exc,
                        meta={"reason": exc.reason, "scheme": exc.scheme or ""})
    if isinstance(exc, Forbidden):
        meta = {"reason": exc.reason, "scheme": exc.scheme or ""}
        if exc.missing_scopes:
            meta["missing_scopes"] = " ".join(exc.missing_scopes)
        return _failure(7, exc.message, "forbidden", domain, goa_error, error=exc, meta=meta)
    if isinstance(exc, RateLimited):
        reset = max(1, math.ceil(exc.decision.reset_after_seconds))
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=reset))
        if exc.reason == "unavailable":
            return _failure(14, "authentication is unavailable; retry later", "unavailable",
                            domain, goa_error, extra=[retry], error=exc, temporary=True)
        return _failure(8, "rate limit exceeded", "too_many_requests", domain, goa_error,
                        extra=[retry], error=exc, temporary=True,
                        meta={"reason": exc.reason, "limit": str(exc.decision.limit)})
    return _internal(exc, domain, goa_error)


def goa_default(temporary: bool, timeout: bool, fault: bool) -> int:
    """Goa's code for a design error no `Response` maps (its EncodeError's rule)."""
    if temporary:
        return 14
    if timeout:
        return 4
    return 13 if fault else 2


def _internal(exc: BaseException, domain: str, goa_error: Any) -> Failure:
    error_id = new_id()
    failure = _failure(13, f"internal error (id {error_id})", "internal", domain, goa_error,
                       error=exc, error_id=error_id, fault=True)
    return Failure(failure.code, failure.message, failure.name, failure.id, failure.details,
                   failure.error, internal=True)


def _failure(
    code: int,
    message: str,
    name: str,
    domain: str,
    goa_error: Any,
    *,
    error: BaseException | None,
    extra: list[Any] | None = None,
    meta: dict[str, str] | None = None,
    error_id: str | None = None,
    temporary: bool = False,
    timeout: bool = False,
    fault: bool = False,
) -> Failure:
    error_id = error_id or new_id()
    status = status_pb2.Status(code=code, message=message)
    details = [
        goa_error(name=name, id=error_id, msg=message, temporary=temporary, timeout=timeout,
                  fault=fault),
        error_details_pb2.ErrorInfo(reason=name, domain=domain,
                                    metadata={"id": error_id, **(meta or {})}),
        *(extra or []),
    ]
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    return Failure(CODES[code], message, name, error_id, status.SerializeToString(), error)
