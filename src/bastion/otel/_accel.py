"""The C module of `bastion.otel` (src/bastion/otel/_native.c), loaded once for its users.

The metric cells (`bastion.otel._metrics`) and the sampler's root decision
(`bastion.otel._sampler`) both come from it; `NATIVE` is None when it is not built, or
not from this source, or `BASTION_NATIVE=0` (see `bastion._cext`): their Python twins run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from bastion._cext import load

__all__ = ["NATIVE"]

NATIVE: Final = load("bastion.otel._native", Path(__file__).with_name("_native.c"))
