"""The chat App, configured from the environment (Bastion's variables and CHAT_KEYS)."""

from __future__ import annotations

from typing import Any

import bastion
from bastion.config import Config, Secret, load_or_exit
from bastion.security import APIKeyStore
from examples.chat.design import api
from examples.chat.service import Chat

#: The demo's keys, for trials; set CHAT_KEYS to replace them.
DEMO_KEYS = "alice:alice-demo-key-0001,bob:bob-demo-key-00001"


class Settings(Config):
    """The chat's variables, on top of Bastion's own (HTTP_ADDR, WS_IDLE_TIMEOUT...)."""

    chat_keys: Secret | None = None  # "user:key,user2:key2"


def build(settings: Settings | None = None) -> bastion.App:
    """The App, from `settings` (read from the environment when None)."""
    settings = settings or load_or_exit(Settings)
    keys = APIKeyStore()
    raw = settings.chat_keys.get_secret_value() if settings.chat_keys else DEMO_KEYS
    for pair in raw.split(","):
        user, _, key = pair.strip().partition(":")
        keys.add(user, key)
    return bastion.App(api, services={"chat": Chat(keys)}, config=settings)


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
