"""The calc service: Goa's example implementation, timeouts included."""

from __future__ import annotations

import asyncio
from typing import Any

import bastion

#: How long divide waits for its result (Goa's example: 50ms); 42 takes 100ms.
DIVIDE_TIMEOUT = 0.05


class Calc:
    """Divides, or raises `div_by_zero` (its own type) or `timeout` (ErrorResult)."""

    async def divide(self, p: Any) -> dict[str, int]:
        """Divide `dividend` by `divisor` as Go does (truncating toward zero)."""
        if p.divisor == 0:
            raise bastion.make_error("div_by_zero", value={"message": "divide by zero"})
        try:
            return await asyncio.wait_for(_divide(p.dividend, p.divisor), DIVIDE_TIMEOUT)
        except TimeoutError:
            raise bastion.make_error("timeout", "context deadline exceeded") from None

    async def add(self, p: Any) -> int:
        """Add `a` and `b` (no HTTP route: the design maps none)."""
        return int(p.a + p.b)


async def _divide(dividend: int, divisor: int) -> dict[str, int]:
    if dividend == 42:
        await asyncio.sleep(0.1)  # Goa's example emulates a slow division this way
    quotient = abs(dividend) // abs(divisor) * (1 if (dividend < 0) == (divisor < 0) else -1)
    return {"quotient": quotient, "reminder": dividend - quotient * divisor}
