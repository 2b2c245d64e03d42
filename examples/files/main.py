"""The files App: nothing but files (its design's routes replace the built-in /openapi.json)."""

from __future__ import annotations

from typing import Any

import bastion
from examples.files.design import api


def build() -> bastion.App:
    """The App, configured from the environment when served."""
    return bastion.App(api, services={"openapi": object()})


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
