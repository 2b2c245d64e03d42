"""The feed App, configured from the environment (Bastion's variables and FEED_KEYS)."""

from __future__ import annotations

from typing import Any

import bastion
from bastion.config import Config, Secret, load_or_exit
from bastion.security import APIKeyStore
from examples.feed.design import api
from examples.feed.service import Feed

#: The demo's publisher key, for trials; set FEED_KEYS to replace it.
DEMO_KEYS = "desk:desk-demo-key-00001"


class Settings(Config):
    """The feed's variables, on top of Bastion's own (HTTP_ADDR, SSE_HEARTBEAT...)."""

    feed_keys: Secret | None = None  # "name:key,name2:key2": who may publish


def build(settings: Settings | None = None) -> bastion.App:
    """The App, from `settings` (read from the environment when None)."""
    settings = settings or load_or_exit(Settings)
    keys = APIKeyStore()
    raw = settings.feed_keys.get_secret_value() if settings.feed_keys else DEMO_KEYS
    for pair in raw.split(","):
        name, _, key = pair.strip().partition(":")
        keys.add(name, key)
    return bastion.App(api, services={"feed": Feed(keys)}, config=settings)


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
