"""A Bastion App whose methods report what they see of their request's lifetime.

Served in a real process by `tests/server/test_cancellation.py`: each method writes what
it saw (`bastion.deadline()`, `bastion.cancelled()`, its thread) as a log line of the
App's logger, which the test reads from the process's output.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import bastion
from bastion import log
from bastion.config import Config, load
from bastion.dsl import (
    API,
    GET,
    HTTP,
    APIKey,
    APIKeySecurity,
    Attribute,
    Method,
    NoSecurity,
    Payload,
    Required,
    Result,
    Security,
    Service,
    String,
)
from bastion.dsl import Float64 as Float
from bastion.security import Principal

#: The one API key the sync auth handler accepts.
KEY = "lifetime-key"
#: How long a method waits for its cancellation before it gives up (a hang guard).
GIVE_UP = 30.0

with API("lifetime") as api:
    pass

key_auth = APIKeySecurity("api_key")

with Service("life"):
    with Method("deadline"):
        NoSecurity()
        with Result():
            Attribute("deadline", Float)
            Attribute("remaining", Float)
            Attribute("thread", String)
            Required("deadline", "remaining", "thread")
        with HTTP():
            GET("/deadline")
    with Method("sync_wait"):
        NoSecurity()
        with HTTP():
            GET("/sync-wait")
    with Method("async_wait"):
        NoSecurity()
        with HTTP():
            GET("/async-wait")
    with Method("threads"):
        Security(key_auth)
        with Payload():
            APIKey("api_key", "key", String)
        with Result():
            Attribute("method_thread", String)
            Attribute("handler_thread", String)
            Required("method_thread", "handler_thread")
        with HTTP():
            GET("/threads")


class Life:
    """Methods that say what they see; sync ones run in the App's threads."""

    def deadline(self) -> dict[str, Any]:
        remaining = bastion.remaining()
        deadline = bastion.deadline()
        if remaining is None or deadline is None:
            raise RuntimeError("the request has no deadline")  # a 500 the test sees
        # `time.monotonic()` is the system's one monotonic clock: the test reads it too.
        return {"deadline": deadline, "remaining": remaining,
                "thread": threading.current_thread().name}

    def sync_wait(self) -> None:
        deadline = bastion.deadline()
        give_up = time.monotonic() + GIVE_UP
        # A sync method is never interrupted: it sees its cancellation and stops itself.
        while not bastion.cancelled() and time.monotonic() < give_up:
            time.sleep(0.01)
        seen = time.monotonic()
        log.info("sync method stopped", cancelled=bastion.cancelled(),
                 past_deadline=deadline is not None and seen >= deadline,
                 deadline_in=(deadline - seen) if deadline is not None else None)

    async def async_wait(self) -> None:
        try:
            await asyncio.sleep(GIVE_UP)
        except asyncio.CancelledError:
            log.info("async method cancelled", cancelled=bastion.cancelled())
            raise
        log.info("async method ran to its end")

    def threads(self, p: Any) -> dict[str, str]:
        # The auth handler named its own thread as the principal's subject.
        return {"method_thread": threading.current_thread().name,
                "handler_thread": bastion.principal().subject}

    def api_key_auth(self, key: str, scheme: Any) -> Principal:
        if key != KEY:
            raise bastion.Unauthorized("unknown key")
        return Principal(subject=threading.current_thread().name)


app = bastion.App(api, {"life": Life()}, config=load(Config))
