# The C line renderer (src/bastion/log/_native.c), built at install time when it can be.
from collections.abc import Callable, Mapping
from typing import Any

SOURCE_DIGEST: str

def render(
    pieces: tuple[bytes, ...],
    slots: tuple[str | int, ...],
    t: float,
    level: str,
    msg: str,
    fields: Mapping[str, object],
    values: tuple[object, ...],
    trace_id: str,
    span_id: str,
    service: str | None,
    limit: int,
    /,
) -> str | None: ...

class Lines:
    """The lines of one CompiledJSON's shapes (see bastion.log._compiled)."""

    def __init__(
        self,
        builds: dict[Any, Any],
        levels: Mapping[int, str],
        limit: int,
        fallback: Callable[..., str | None],
    ) -> None: ...
    def line(
        self,
        t: float,
        rank: int,
        msg: str,
        fields: Mapping[str, object],
        keys: tuple[str, ...],
        values: tuple[object, ...],
        span: object,
        service: str | None,
        /,
    ) -> str | None: ...
