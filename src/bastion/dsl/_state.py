"""The design being built and the `with` blocks open right now: the DSL's one global.

`API(...)` starts a new design (as Goa's root does); every other DSL function records its
expression in the innermost open block, found here.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any as _Any
from typing import Generic, TypeVar

from bastion.dsl.expr import (
    APIExpr,
    HTTPMethodExpr,
    Location,
    SchemeExpr,
)
from bastion.errors import DesignError

E = TypeVar("E")


class _State:
    """The design being built and the `with` blocks open right now."""

    def __init__(self) -> None:
        self.design: APIExpr | None = None
        self.stack: list[object] = []
        self.pending_schemes: list[SchemeExpr] = []
        self.pending_interceptors: list[_Any] = []  # `Interceptor(...)` before any API


_state = _State()


def current_design() -> APIExpr | None:
    """Return the design the DSL is building, if any."""
    return _state.design


class _Group:
    """The `Params()` or `Headers()` block of a method's HTTP mapping, open right now."""

    __slots__ = ("http", "kind")

    def __init__(self, http: HTTPMethodExpr, kind: str) -> None:
        self.http = http
        self.kind = kind  # "Params" or "Headers"


class _Block(Generic[E]):
    """What a DSL function returns: the expression, usable as a `with` block."""

    __slots__ = ("_expr", "_on_enter")

    def __init__(self, expr: E, on_enter: _Any = None) -> None:
        self._expr = expr
        self._on_enter = on_enter

    @property
    def expr(self) -> E:
        """The expression this call recorded."""
        return self._expr

    def __enter__(self) -> E:
        pushed = self._on_enter() if self._on_enter is not None else self._expr
        _state.stack.append(pushed)
        return self._expr

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _state.stack.pop()


def _fail(where: Location, message: str) -> DesignError:
    return DesignError(f"{where}: {message}")


def _top() -> object | None:
    return _state.stack[-1] if _state.stack else None


def _need(kinds: tuple[type, ...], fn: str, where: Location, places: str) -> _Any:
    top = _top()
    if not isinstance(top, kinds):
        raise _fail(where, f"{fn} must be called inside {places}")
    return top


def _design(fn: str, where: Location) -> APIExpr:
    """The design `fn` adds to: the current one, or a default API as Goa gives one.

    A design file that declares no `API(...)` gets a default API, named after its first
    service when finalized. It is that file's own: a later file without an API starts
    another, and so does any declaration once the current design is finalized.
    """
    design = _state.design
    if design is None or design.finalized or (
        design.default and design.location.file != where.file
    ):
        design = APIExpr(name="", location=where, default=True)
        adopt_schemes(design)
        _state.design = design
    return design


def adopt_schemes(api: APIExpr) -> None:
    """Give `api` the schemes and interceptors declared before it in its file."""
    kept = []
    for scheme in _state.pending_schemes:
        if scheme.location.file == api.location.file:
            api.schemes.setdefault(scheme.name, scheme)
        else:
            kept.append(scheme)
    _state.pending_schemes[:] = kept
    waiting = []
    for interceptor in _state.pending_interceptors:
        if interceptor.location.file == api.location.file:
            api.interceptors.setdefault(interceptor.name, interceptor)
        else:
            waiting.append(interceptor)
    _state.pending_interceptors[:] = waiting

