"""The uploads App: the storage service over a blob folder (BLOB_DIR, or a temporary one)."""

from __future__ import annotations

from typing import Any

import bastion
from examples.uploads.design import api
from examples.uploads.service import Storage, blob_folder


def build() -> bastion.App:
    """The App, configured from the environment (HTTP_ADDR, LOG_FORMAT...) when served."""
    return bastion.App(api, services={"storage": Storage(blob_folder())})


def __getattr__(name: str) -> Any:
    # `bastion serve examples.uploads.main:app` builds the app on first access only.
    if name == "app":
        return build()
    raise AttributeError(name)
