"""Error responses: one body shape for every error, and the status each error gets.

The body is Goa's error shape — `name`, `id`, `message`, `temporary`, `timeout`,
`fault` — plus `field` when one field is at fault and `errors` listing every invalid
field of a 400; `bastion._asgi.error_body` writes it for every listener. Unexpected
exceptions never show more than a name, an id and a generic message; the id is the one
logged with the stack trace. A value a client sent for a sensitive field is never echoed.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from typing import Any

import msgspec

from bastion._asgi import TEMPORARY_STATUSES, error_body
from bastion._ids import new_id
from bastion.errors import BastionError, ServiceError
from bastion.redact import DEFAULT_REDACTOR, REDACTED, Redactor
from bastion.schema.validate import FieldError
from bastion.types import ERROR_SCOPE_KEY, ErrorNote

__all__ = [
    "ERROR_SCOPE_KEY",
    "ErrorNote",
    "HTTPError",
    "error_body",
    "internal_error",
    "note_error",
    "service_error_body",
]

# Validation messages that echo what was sent (msgspec's "Invalid enum value 'x'").
_ECHO = re.compile(r"^(Invalid (?:enum )?value) .+$", re.DOTALL)

JSON_HEADERS = ((b"content-type", b"application/json"),)


class HTTPError(BastionError):
    """An error the transport answers itself: bad request, 404, 405, 413, 415…

    A 408, 429 or 503 is `temporary` unless said otherwise.
    """

    def __init__(
        self,
        status: int,
        name: str,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Sequence[tuple[bytes, bytes]] = (),
        temporary: bool | None = None,
        timeout: bool = False,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message
        self.errors = list(errors)
        self.headers = list(headers)
        self.temporary = status in TEMPORARY_STATUSES if temporary is None else temporary
        self.timeout = timeout
        self.field = field
        self.id = new_id()

    def body(self, redactor: Redactor = DEFAULT_REDACTOR) -> bytes:
        """The JSON body of this error; what a sensitive field was sent as is never echoed."""
        return error_body(
            self.name,
            self.id,
            self.message,
            temporary=self.temporary,
            timeout=self.timeout,
            fault=self.status >= 500,
            field=self.field,
            errors=[_field_json(e, redactor) for e in self.errors] or None,
        )


def _field_json(error: FieldError, redactor: Redactor) -> dict[str, str]:
    out = error.to_json()
    # The field's own name: `order.card`, `items[2].token` -> `card`, `token`.
    name = error.field.rpartition(".")[2].partition("[")[0]
    if name and redactor.is_sensitive(name):
        out["message"] = _ECHO.sub(rf"\1 {REDACTED}", out["message"])
    return out


def note_error(scope: MutableMapping[str, Any], note: ErrorNote) -> None:
    """Leave the error a response carries in `scope`, for the request log and the span."""
    scope[ERROR_SCOPE_KEY] = note


def service_error_body(
    err: ServiceError,
    *,
    name: str | None = None,
    temporary: bool | None = None,
    timeout: bool | None = None,
    fault: bool | None = None,
) -> bytes:
    """Encode a design error raised by a method; flags given here override the error's.

    The transport passes the flags the design declares for the error, so the exception
    the method raised is never changed.
    """
    return error_body(
        name or err.name or "error",
        err.id,
        err.message,
        temporary=err.temporary if temporary is None else temporary,
        timeout=err.timeout if timeout is None else timeout,
        fault=err.fault if fault is None else fault,
        field=err.field,
        details=msgspec.to_builtins(err.details) if err.details is not None else None,
    )


def internal_error(error_id: str) -> bytes:
    """The body of a 500: a name, the id of the log line, and nothing else."""
    return error_body(
        "internal",
        error_id,
        "an internal error occurred; quote the id to the service's operators",
        fault=True,
    )
