"""The calc App."""

from __future__ import annotations

from typing import Any

import bastion
from examples.calc.design import api
from examples.calc.service import Calc


def build() -> bastion.App:
    """The App, configured from the environment when served."""
    return bastion.App(api, services={"calc": Calc()})


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
