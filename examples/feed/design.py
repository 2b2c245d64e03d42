"""The feed design: notices as server-sent events, Goa's `ServerSentEvents()` mapping.

- `watch`: every notice published, as events whose `id`, `event` and `retry` fields come
  from the notice's attributes and whose `data` is its text; a reconnecting client's
  `Last-Event-ID` is the `after` attribute, so it gets what it missed first;
- `clock`: `count` ticks `every` seconds apart, each whole Tick as JSON data;
- `publish`: an ordinary POST that adds a notice (and wakes every watcher).
"""

from __future__ import annotations

from bastion.dsl import *

Writer = APIKeySecurity("writer", description="The key of a publisher (X-API-Key)")

with API("feed") as api:
    Title("Feed")
    Description("Notices as server-sent events.")
    Version("1.0.0")

with Type("Notice") as Notice:
    Attribute("id", String, "Its position in the feed", pattern="^[0-9]+$")
    Attribute("kind", String, "The event type", enum=["note", "alert"])
    Attribute("text", String, "What it says", min_length=1, max_length=500)
    Attribute("retry", Int, "Milliseconds a client waits before it reconnects", minimum=0)
    Required("id", "kind", "text")

with Type("Tick") as Tick:
    Attribute("n", Int, minimum=1)
    Required("n")

with Service("feed"):
    with Method("watch"):
        Description("Every notice after `after` (Last-Event-ID), then each new one.")
        NoSecurity()
        with Payload():
            Attribute("after", String, "The id of the last notice seen", pattern="^[0-9]+$")
            Attribute("kind", String, "Only notices of this kind", enum=["note", "alert"])
        StreamingResult(Notice)
        with HTTP():
            GET("/notices")
            Param("kind")
            with ServerSentEvents("text"):
                SSEEventID("id")
                SSEEventType("kind")
                SSEEventRetry("retry")
                SSERequestID("after")

    with Method("clock"):
        Description("`count` ticks, `every` seconds apart, each Tick whole as JSON data.")
        NoSecurity()
        with Payload():
            Attribute("count", Int, minimum=1, maximum=1000, default=3)
            Attribute("every", Float64, minimum=0, maximum=600, default=0.1)
        StreamingResult(Tick)
        with HTTP():
            GET("/clock")
            Param("count")
            Param("every")
            ServerSentEvents()

    with Method("publish"):
        Description("Add a notice to the feed.")
        Security(Writer)
        with Payload():
            APIKey("writer", "key", String)
            Attribute("kind", String, enum=["note", "alert"], default="note")
            Attribute("text", String, min_length=1, max_length=500)
            Required("key", "text")
        Result(Notice)
        with HTTP():
            POST("/notices")
            Response(StatusCreated)
