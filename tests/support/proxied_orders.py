"""`python -m tests.support.proxied_orders`: the orders example behind a trusted proxy.

The same App as `python -m examples.orders` (examples/orders/main.py builds it the same
way), told through `RequestLogOptions.trusted_proxies` that 127.0.0.1, where haproxy
connects from in the fleet tests, is a proxy whose `X-Forwarded-For` names the client.
"""

from __future__ import annotations

from typing import Any

from examples.orders.design import api
from examples.orders.main import Settings
from examples.orders.service import Health, Orders

import bastion
from bastion import Observe
from bastion.config import load_or_exit
from bastion.http import RequestLogOptions
from bastion.security import APIKeyStore, JWTVerifier

#: The balancer's address, as the instances see it.
TRUSTED = ("127.0.0.1/32",)


def build() -> bastion.App:
    """The orders App with API keys and a JWT secret from the environment, trusting TRUSTED."""
    settings = load_or_exit(Settings)
    if settings.jwt_secret is None or settings.api_keys is None:
        raise SystemExit("JWT_SECRET and API_KEYS must be set")
    jwt = JWTVerifier(key=settings.jwt_secret.get_secret_value(), algorithms=["HS256"],
                      issuer=settings.jwt_issuer)
    keys = APIKeyStore()
    for pair in settings.api_keys.get_secret_value().split(","):
        client, _, key = pair.strip().partition(":")
        keys.add(client, key)
    checks: list[Any] = [bastion.health.SQLPinger("database", settings.database_url)]
    return bastion.App(
        api,
        services={"orders": Orders(settings.database_url, jwt, keys), "health": Health()},
        checks=checks,
        config=settings,
        observe=Observe(request_log=RequestLogOptions(trusted_proxies=TRUSTED)),
    )


if __name__ == "__main__":
    bastion.run(build())
