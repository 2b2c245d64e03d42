"""A design with one method per kind of security scheme, and a service that implements it.

Served by `bastion serve tests.support.every_scheme:app` for the docs page test, and the
source of stubs whose auth handlers cover every kind.
"""

from __future__ import annotations

import os

import bastion
from bastion.dsl import *
from bastion.errors import Unauthorized

SCOPES = {"things:read": "Read things", "things:write": "Write things"}
DEMO_USER, DEMO_PASSWORD, DEMO_KEY, DEMO_TOKEN = "ada", "lovelace", "key-123", "token-123"
# Where the OAuth2 password and client credentials flows get tokens: a test runs one on
# 127.0.0.1 and sets this before the design is imported.
TOKEN_URL = os.environ.get("THINGS_TOKEN_URL", "https://auth.example.com/token")

with API("things") as api:
    Title("Things API")
    Version("0.1.0")
    basic = BasicAuthSecurity("basic", description="HTTP Basic")
    key = APIKeySecurity("api_key", description="An API key")
    jwt = JWTSecurity("jwt", description="A bearer JWT", scopes=SCOPES)
    oauth = OAuth2Security(
        "oauth",
        description="OAuth2, every flow",
        flows=[
            AuthorizationCodeFlow("https://auth.example.com/authorize", TOKEN_URL),
            ImplicitFlow("https://auth.example.com/authorize"),
            PasswordFlow(TOKEN_URL),
            ClientCredentialsFlow(TOKEN_URL),
        ],
        scopes=SCOPES,
    )

with Service("things"):
    with Method("by_basic"):
        Security(basic)
        with Payload():
            Username("user")
            Password("password")
        with Result():
            Attribute("subject", String)
        with HTTP():
            GET("/basic")
    with Method("by_key"):
        Security(key)
        with Payload():
            APIKey("api_key", "key")
        with Result():
            Attribute("subject", String)
        with HTTP():
            GET("/key")
    with Method("by_jwt"):
        Security(jwt, scopes=["things:read"])
        with Payload():
            Token("token")
        with Result():
            Attribute("subject", String)
        with HTTP():
            GET("/jwt")
    with Method("by_oauth"):
        Security(oauth, scopes=["things:write"])
        with Payload():
            AccessToken("token")
        with Result():
            Attribute("subject", String)
        with HTTP():
            POST("/oauth")


class Things:
    """Every auth handler, sync and async mixed; fixed demo credentials."""

    def basic_auth(self, username: str, password: str, scheme: bastion.BasicScheme
                   ) -> bastion.Principal:
        if (username, password) != (DEMO_USER, DEMO_PASSWORD):
            raise Unauthorized("bad username or password")
        return bastion.Principal(subject=username)

    async def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> bastion.Principal:
        if key != DEMO_KEY:
            raise Unauthorized("unknown key")
        return bastion.Principal(subject="key-holder")

    async def jwt_auth(self, token: str, scheme: bastion.JWTScheme) -> bastion.Principal:
        return self._bearer(token)

    def oauth2_auth(self, token: str, scheme: bastion.OAuth2Scheme) -> bastion.Principal:
        return self._bearer(token)

    def _bearer(self, token: str) -> bastion.Principal:
        if token != DEMO_TOKEN:
            raise Unauthorized("unknown token")
        return bastion.Principal(subject="bearer", scopes=frozenset(SCOPES))

    def by_basic(self, p: object) -> dict[str, str]:
        return {"subject": bastion.principal().subject}

    async def by_key(self, p: object) -> dict[str, str]:
        return {"subject": bastion.principal().subject}

    def by_jwt(self, p: object) -> dict[str, str]:
        return {"subject": bastion.principal().subject}

    async def by_oauth(self, p: object) -> dict[str, str]:
        return {"subject": bastion.principal().subject}


def __getattr__(name: str) -> bastion.App:
    # Built on access, so importing the design (for stubs) starts no telemetry.
    if name == "app":
        return bastion.App(api, services={"things": Things()})
    raise AttributeError(name)
