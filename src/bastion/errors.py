"""The exceptions Bastion raises, and the one users raise from service methods.

Every exception derives from `BastionError`; each also inherits the builtin it is
closest to, so callers that catch `ValueError` or `PermissionError` keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from bastion._ids import new_id

if TYPE_CHECKING:
    from bastion.dsl.expr import SchemeKind

__all__ = [
    "REASONS",
    "AlreadyStarted",
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


class AlreadyStarted(BastionError, RuntimeError):
    """A change that must come before the App starts came after it (`App.use()`).

    The middleware stack and the endpoint chains are built once, when the App starts;
    a middleware added later would never run, so adding one is refused instead.
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

    Build one with `make_error`; its `id` is unique and is logged with it. `value` is
    the error's own value when the design gives the error a type (`Error("div_by_zero",
    DivByZero)`): that value, checked against the type, is what the client gets.
    """

    def __init__(
        self,
        name: str | None,
        message: str = "",
        *,
        field: str | None = None,
        temporary: bool = False,
        timeout: bool = False,
        fault: bool = False,
        id: str | None = None,
        details: Any = None,
        value: Any = None,
    ) -> None:
        super().__init__(message or name or "error")
        self.name = name
        self.message = message
        self.field = field
        self.temporary = temporary
        self.timeout = timeout
        self.fault = fault
        self.id = id or new_id()
        self.details = details
        self.value = value

    def __repr__(self) -> str:
        return f"ServiceError(name={self.name!r}, message={self.message!r})"


def make_error(
    name: str | None, message: str = "", *, field: str | None = None, value: Any = None
) -> ServiceError:
    """Return the design error `name` with `message`, to be raised by a service method.

    The flags (temporary, timeout, fault) come from the design's `Error(...)` declaration
    when the transport encodes it, so the method only names the error. For an error
    with a type of its own, `value` is the error's value (a dict, a Struct, any object
    with the type's attributes); without one, a `String` error is `message`, and an
    object type gets `message` in its `message` attribute. `name` may be None when the
    type marks the attribute holding the name with `Meta("struct:error:name")`.
    """
    return ServiceError(name, message, field=field, value=value)


#: Every value an auth failure's `reason` can take: safe as a metric label (bounded, and
#: never a credential).
REASONS: Final = frozenset(
    {
        "missing",  # no credential in the request
        "invalid",  # a credential was sent and rejected
        "expired",  # a credential that was once valid has expired
        "forbidden",  # the handler refused an authenticated principal
        "insufficient_scope",  # the principal lacks a required scope
        "rate_limited",  # too many requests for this credential or method
        "locked_out",  # too many failed authentications from this client or credential
        "unavailable",  # the rate limit storage is down and the limit fails closed
    }
)


def _reason(reason: str, default: str) -> str:
    # An unknown reason would become an unbounded metric label: fold it into the default.
    return reason if reason in REASONS else default


def _kinds(*kinds: SchemeKind | str) -> tuple[SchemeKind, ...]:
    # Kinds given as their values ("jwt") become the enum; an unknown one is a ValueError.
    from bastion.dsl.expr import SchemeKind  # the DSL package imports this module

    return tuple(SchemeKind(k) for k in kinds)


class Unauthorized(BastionError, PermissionError):
    """The credential is missing or invalid (HTTP 401, gRPC UNAUTHENTICATED).

    Auth handlers raise it, with a `reason` when they know it (`invalid`, `expired`); the
    security layer answers with its own, naming the `scheme` (name and `kind`) whose
    credential failed and the `alternatives` (scheme kinds) the method accepts, which is
    what a transport needs to say how to authenticate. It never holds a credential.
    """

    def __init__(
        self,
        message: str = "unauthorized",
        *,
        reason: str = "invalid",
        scheme: str | None = None,
        kind: SchemeKind | str | None = None,
        alternatives: tuple[SchemeKind | str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = _reason(reason, "invalid")
        self.scheme = scheme
        self.kind: SchemeKind | None = _kinds(kind)[0] if kind is not None else None
        self.alternatives = _kinds(*alternatives) if alternatives else ()

    def __repr__(self) -> str:
        return f"Unauthorized({self.message!r}, reason={self.reason!r}, scheme={self.scheme!r})"


class Forbidden(BastionError, PermissionError):
    """The principal is authenticated but not allowed (HTTP 403, gRPC PERMISSION_DENIED).

    Auth handlers raise it to refuse a principal; the security layer raises it naming the
    `missing_scopes` (and the requirement's `required_scopes`) when scopes are lacking.
    """

    def __init__(
        self,
        message: str = "forbidden",
        *,
        missing_scopes: tuple[str, ...] = (),
        required_scopes: tuple[str, ...] = (),
        reason: str = "forbidden",
        scheme: str | None = None,
        kind: SchemeKind | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.missing_scopes = missing_scopes
        self.required_scopes = required_scopes
        self.reason = _reason(reason, "forbidden")
        self.scheme = scheme
        self.kind: SchemeKind | None = _kinds(kind)[0] if kind is not None else None

    def __repr__(self) -> str:
        return (
            f"Forbidden({self.message!r}, missing_scopes={self.missing_scopes!r}, "
            f"scheme={self.scheme!r})"
        )

