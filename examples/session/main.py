"""The session App."""

from __future__ import annotations

from typing import Any

import bastion
from examples.session.design import api
from examples.session.service import Session


def build() -> bastion.App:
    """The App, configured from the environment when served."""
    return bastion.App(api, services={"session": Session()})


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
