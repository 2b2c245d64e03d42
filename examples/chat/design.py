"""The chat design: one method of each stream kind, served over WebSocket.

- `talk` (bidirectional): the client sends what it says, the server streams every line
  said in the room, the speaker's included; the API key (the `key` query parameter, as
  browsers cannot set headers on a WebSocket) is checked once, at the upgrade;
- `ticks` (server stream, public): `count` ticks, one every `every` seconds;
- `tally` (client stream): the client sends lines, ends with `null`, gets a summary; its
  key travels in the `X-API-Key` header.
"""

from __future__ import annotations

from bastion.dsl import *

KeyAuth = APIKeySecurity("key", description="A chat key: the `key` query parameter or X-API-Key")

with API("chat") as api:
    Title("Chat")
    Description("A chat room and a ticker, streamed over WebSocket.")
    Version("1.0.0")
    Security(KeyAuth)

with Type("Say") as Say:
    Description("What a client says.")
    Attribute("text", String, "The words", min_length=1, max_length=200)
    Required("text")

with Type("Line") as Line:
    Description("A line said in a room.")
    Attribute("seq", Int, "Its number in the room", minimum=1)
    Attribute("user", String, "Who said it")
    Attribute("text", String, "What was said")
    Required("seq", "user", "text")

with Type("Tick") as Tick:
    Attribute("n", Int, "Ticks so far", minimum=1)
    Required("n")

with Service("chat"):
    Error("room_closed", description="The room is closed")
    with HTTP():
        Response("room_closed", StatusNotFound)

    with Method("talk"):
        Description("Talk in a room: send Say messages, receive every Line said in it.")
        with Payload():
            APIKey("key", "key", String)
            Attribute("room", String, "The room", pattern="^[a-z]{1,20}$")
            Required("key", "room")
        StreamingPayload(Say)
        StreamingResult(Line)
        with HTTP():
            GET("/rooms/{room}")
            Param("key")  # browsers cannot set headers on a WebSocket: the query carries it

    with Method("ticks"):
        Description("Count: one Tick every `every` seconds, `count` times.")
        NoSecurity()
        with Payload():
            Attribute("count", Int, "How many ticks", minimum=1, maximum=1000, default=3)
            Attribute("every", Float64, "Seconds between two ticks", minimum=0, maximum=60,
                      default=0.1)
        StreamingResult(Tick)
        with HTTP():
            GET("/ticks")
            Param("count")
            Param("every")

    with Method("tally"):
        Description("Send lines, end with null: get how many lines and words were sent.")
        with Payload():
            APIKey("key", "key", String)
            Required("key")
        StreamingPayload(Say)
        with Result():
            Attribute("lines", Int)
            Attribute("words", Int)
            Required("lines", "words")
        with HTTP():
            GET("/tally")
