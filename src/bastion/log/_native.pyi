# The C line renderer (src/bastion/log/_native.c), built at install time when it can be.
from collections.abc import Mapping

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
