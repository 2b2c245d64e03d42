"""Finding a service's auth handlers, one per scheme kind, as Goa's "auther" functions."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from bastion.dsl.expr import SchemeKind
from bastion.endpoint import ImplementationError

__all__ = ["HANDLER_NAMES", "SIGNATURES", "Handler", "find_handler", "handlers_for", "is_async"]

#: The service method that handles each scheme kind, as Goa's "auther" functions.
HANDLER_NAMES: Final[Mapping[SchemeKind, str]] = {
    SchemeKind.BASIC: "basic_auth",
    SchemeKind.APIKEY: "api_key_auth",
    SchemeKind.JWT: "jwt_auth",
    SchemeKind.OAUTH2: "oauth2_auth",
}
SIGNATURES: Final[Mapping[SchemeKind, str]] = {
    SchemeKind.BASIC: "basic_auth(self, username: str, password: str, scheme: BasicScheme)",
    SchemeKind.APIKEY: "api_key_auth(self, key: str, scheme: APIKeyScheme)",
    SchemeKind.JWT: "jwt_auth(self, token: str, scheme: JWTScheme)",
    SchemeKind.OAUTH2: "oauth2_auth(self, token: str, scheme: OAuth2Scheme)",
}

#: An auth handler: gets the credential(s) and the scheme, returns a principal or raises.
Handler = Callable[..., Any]


def find_handler(service: object, kind: SchemeKind) -> Handler | None:
    """Return the service's auth handler for `kind`, or None when it has none."""
    handler = getattr(service, HANDLER_NAMES[kind], None)
    return handler if callable(handler) else None


def handlers_for(
    service: object, kinds: Iterable[SchemeKind | str], *, service_name: str | None = None
) -> dict[SchemeKind, Handler]:
    """Return the service's auth handler for each scheme kind, by kind.

    Raises `ImplementationError` at startup naming every missing handler and its
    signature, as for a missing service method.
    """
    name = service_name or type(service).__name__
    found: dict[SchemeKind, Handler] = {}
    missing: list[str] = []
    for kind in dict.fromkeys(SchemeKind(k) for k in kinds):
        handler = find_handler(service, kind)
        if handler is None:
            missing.append(SIGNATURES[kind])
        else:
            found[kind] = handler
    if missing:
        raise ImplementationError(
            f"service {name!r} uses security schemes without their auth handler; add "
            + " and ".join(f"`{m}`" for m in missing)
            + " (async or sync; return a Principal or raise bastion.Unauthorized)"
        )
    return found


def is_async(handler: Handler) -> bool:
    """Return whether calling `handler` returns a coroutine (function or async __call__)."""
    target = handler.func if isinstance(handler, functools.partial) else handler
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an instance with async __call__
    )
