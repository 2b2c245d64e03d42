"""The cellar App: the storage, sommelier and swagger services of the design."""

from __future__ import annotations

from typing import Any

import bastion
from examples.cellar.design import api
from examples.cellar.service import Sommelier, Storage


def build() -> bastion.App:
    """The App, configured from the environment (HTTP_ADDR, LOG_FORMAT...) when served."""
    storage = Storage()
    return bastion.App(api, services={
        "storage": storage, "sommelier": Sommelier(storage), "swagger": object()})


def __getattr__(name: str) -> Any:
    # `bastion serve examples.cellar.main:app` builds the app on first access only.
    if name == "app":
        return build()
    raise AttributeError(name)
