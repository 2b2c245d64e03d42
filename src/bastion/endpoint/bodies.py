"""The raw body of a call: what a `SkipRequestBodyEncodeDecode()` method reads, any transport.

Such a method takes the request body as its last argument, an async iterable of bytes
(`bastion.http.RequestBody` over HTTP), as Goa's takes an `io.ReadCloser`::

    async def upload(self, p, body):
        async for chunk in body:
            await self.store.write(p.id, chunk)

The transport makes the body current (`use`) around the call, so the endpoint chain —
logging, your middleware, the security layer — runs before the method reads a byte.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Final

from bastion.dsl.expr import MethodExpr
from bastion.types import Endpoint

__all__ = ["body_call", "current", "reset", "use"]

_current: Final[ContextVar[Any]] = ContextVar("bastion.request_body", default=None)


def current() -> Any:
    """The raw body of the call in progress, or None."""
    return _current.get()


def use(body: Any) -> Token[Any]:
    """Make `body` the raw body of the call; return the token to pass to `reset`."""
    return _current.set(body)


def reset(token: Token[Any]) -> None:
    """Restore the body that was current before `use`."""
    _current.reset(token)


def body_call(fn: Callable[..., Any], method: MethodExpr) -> Endpoint:
    """The endpoint of a method that reads its raw body: the body is its last argument."""
    from bastion.endpoint import ImplementationError

    target = fn.func if isinstance(fn, functools.partial) else fn
    if not inspect.iscoroutinefunction(target):
        raise ImplementationError(
            f"{method.qualified} reads its raw body (SkipRequestBodyEncodeDecode): implement "
            "it as `async def` taking the body as its last argument")
    takes_payload = method.payload is not None

    async def call(payload: Any) -> Any:
        body = _current.get()
        if body is None:
            raise RuntimeError(f"{method.qualified} reads its body, and was called without one")
        if takes_payload:
            return await fn(payload, body)
        return await fn(body)

    return call
