"""The exceptions Bastion raises, and the one users raise from service methods.

Every exception derives from `BastionError`; each also inherits the builtin it is
closest to, so callers that catch `ValueError` or `PermissionError` keep working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BastionError",
    "Cancelled",
    "ClientDisconnected",
    "ConfigError",
    "DesignError",
    "Forbidden",
    "ImportStringError",
    "LifespanError",
    "MalformedBody",
    "RequestTimeout",
    "ServiceError",
    "Unauthorized",
    "make_error",
]


class BastionError(Exception):
    """Base of every exception Bastion defines."""


class DesignError(BastionError, ValueError):
    """A design is invalid. The message names the element, the problem and file:line."""


class ConfigError(BastionError, ValueError):
    """The environment or configuration is invalid. `problems` lists every bad variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class Cancelled(BastionError):
    """The request was cancelled (its deadline passed, or the server is shutting down).

    Raised by `bastion.committing()` and by a sync method whose request was cancelled
    while it waited for a thread, so that nothing runs for a client already answered.
    """


class ClientDisconnected(BastionError, ConnectionError):
    """The client's connection is gone: a response can no longer be sent."""


class LifespanError(BastionError, RuntimeError):
    """An app's lifespan startup or shutdown failed; a server must not serve it."""


class MalformedBody(BastionError, ValueError):
    """The request body's framing is broken (a bad chunk size): answered 400."""


class RequestTimeout(BastionError, TimeoutError):
    """The request body did not arrive within READ_TIMEOUT (answered 408)."""


class ImportStringError(BastionError, ImportError):
    """An import string ("module:attribute") names nothing that can be imported.

    `ref` is the string; `module` the module that failed to import, when one did.
    """

    def __init__(self, ref: str, message: str, *, module: str | None = None) -> None:
        super().__init__(message, name=module)
        self.ref = ref
        self.module = module


class ServiceError(BastionError):
    """A design error raised by a service method; the transport maps it by `name`.

    Build one with `make_error`; its `id` is unique and is logged with it.
    """

    def __init__(
        self,
        name: str,
        message: str,
        *,
        field: str | None = None,
        temporary: bool = False,
        timeout: bool = False,
        fault: bool = False,
        id: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.field = field
        self.temporary = temporary
        self.timeout = timeout
        self.fault = fault
        self.id = id or _new_id()
        self.details = details

    def __repr__(self) -> str:
        return f"ServiceError(name={self.name!r}, message={self.message!r})"


def make_error(name: str, message: str, *, field: str | None = None) -> ServiceError:
    """Return the design error `name` with `message`, to be raised by a service method.

    The flags (temporary, timeout, fault) come from the design's `Error(...)` declaration
    when the transport encodes it, so the method only names the error.
    """
    return ServiceError(name, message, field=field)


class Unauthorized(BastionError, PermissionError):
    """Raised by an auth handler: the credential is missing or invalid (HTTP 401)."""

    def __init__(self, message: str = "unauthorized") -> None:
        super().__init__(message)
        self.message = message


class Forbidden(BastionError, PermissionError):
    """Raised by an auth handler or the framework: the principal lacks rights (HTTP 403)."""

    def __init__(self, message: str = "forbidden", *, missing_scopes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.missing_scopes = missing_scopes


def _new_id() -> str:
    # Short, URL-safe and unique enough to match a response with its log line.
    import secrets

    return secrets.token_urlsafe(9)
