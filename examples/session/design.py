"""The session design, ported line for line from Goa's `examples/cookies/design`."""

from __future__ import annotations

from bastion.dsl import *

with API("session") as api:
    Title("Session service")
    Description("HTTP service that showcase the use of HTTP cookies in Goa services.")

with Service("session"):
    Description("The session service illustrates managing user sessions with cookies.")

    with Method("create_session"):
        with Payload():
            Attribute("name", String, "Name of session")
            Required("name")
        with Result():
            Attribute("session_id", String, "Session ID")
            Attribute("message", String, "User message")
            Required("session_id", "message")
        with HTTP():
            POST("/")
            with Response(StatusOK):
                Cookie("session_id:SID")  # Return session ID in "SID" cookie
                CookieMaxAge(3600)  # Sessions last one hour

    with Method("use_session"):
        with Payload():
            Attribute("session_id", String, "Session ID")
            Required("session_id")
        with Result():
            Attribute("message", String, "User message")
            Required("message")
        with HTTP():
            GET("/")
            Cookie("session_id:SID")  # Load session ID from "SID" cookie
            Response(StatusOK)
