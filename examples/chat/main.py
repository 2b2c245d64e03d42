"""The chat App: keys from CHAT_KEYS (`user:key,...`), demo keys when unset."""

from __future__ import annotations

import os
from typing import Any

import bastion
from bastion.security import APIKeyStore
from examples.chat.design import api
from examples.chat.service import Chat

#: The demo's keys, for `make`-free trials; set CHAT_KEYS to replace them.
DEMO_KEYS = "alice:alice-demo-key-0001,bob:bob-demo-key-00001"


def build() -> bastion.App:
    """The App, configured from the environment when served."""
    keys = APIKeyStore()
    for pair in os.environ.get("CHAT_KEYS", DEMO_KEYS).split(","):
        user, _, key = pair.strip().partition(":")
        keys.add(user, key)
    return bastion.App(api, services={"chat": Chat(keys)})


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(name)
