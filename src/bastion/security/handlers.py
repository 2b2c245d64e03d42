"""Finding a service's auth handlers, one per scheme kind, as Goa's "auther" functions."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from bastion.errors import DesignError

__all__ = ["HANDLER_NAMES", "SIGNATURES", "Handler", "handlers_for", "is_async"]

#: The service method that handles each scheme kind, as Goa's "auther" functions.
HANDLER_NAMES: Final[Mapping[str, str]] = {
    "basic": "basic_auth",
    "apikey": "api_key_auth",
    "jwt": "jwt_auth",
    "oauth2": "oauth2_auth",
}
SIGNATURES: Final[Mapping[str, str]] = {
    "basic": "basic_auth(self, username: str, password: str, scheme: BasicScheme)",
    "apikey": "api_key_auth(self, key: str, scheme: APIKeyScheme)",
    "jwt": "jwt_auth(self, token: str, scheme: JWTScheme)",
    "oauth2": "oauth2_auth(self, token: str, scheme: OAuth2Scheme)",
}

#: An auth handler: gets the credential(s) and the scheme, returns a principal or raises.
Handler = Callable[..., Any]


def handlers_for(
    service: object, kinds: Iterable[str], *, service_name: str | None = None
) -> dict[str, Handler]:
    """Return the service's auth handler for each scheme kind, by kind.

    Raises `DesignError` at startup naming every missing handler and its signature.
    """
    name = service_name or type(service).__name__
    found: dict[str, Handler] = {}
    missing: list[str] = []
    for kind in dict.fromkeys(kinds):
        attr = HANDLER_NAMES.get(kind)
        if attr is None:
            raise DesignError(f"service {name!r}: unknown security scheme kind {kind!r}")
        handler = getattr(service, attr, None)
        if handler is None or not callable(handler):
            missing.append(SIGNATURES[kind])
        else:
            found[kind] = handler
    if missing:
        raise DesignError(
            f"service {name!r} uses security schemes without their auth handler; add "
            + " and ".join(f"`{m}`" for m in missing)
            + " (async or sync; return a Principal or raise bastion.errors.Unauthorized)"
        )
    return found


def is_async(handler: Handler) -> bool:
    """Return whether calling `handler` returns a coroutine (function or async __call__)."""
    target = handler.func if isinstance(handler, functools.partial) else handler
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an instance with async __call__
    )
