"""The records App: the service and its interceptors."""

from __future__ import annotations

from typing import Any

import bastion
from examples.records.design import api
from examples.records.service import Records, RecordsInterceptors


def build() -> bastion.App:
    """The App, configured from the environment when served."""
    return bastion.App(api, services={"records": Records()},
                       interceptors={"records": RecordsInterceptors()})


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
