"""The orders service, assembled: configuration, auth handlers, health checks, the App."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import bastion
from bastion.config import Config, Secret, load_or_exit
from bastion.security import APIKeyStore, JWTVerifier
from examples.orders.design import api
from examples.orders.service import Health, Orders, sqlite_path

#: Used only when JWT_SECRET / API_KEYS are unset, so `make demo` runs on a fresh machine.
DEMO_JWT_SECRET = "demo-only-jwt-secret-do-not-deploy-0123456789"
DEMO_API_KEY = "demo-only-read-key-0123456789"


class Settings(Config):
    """The orders service's variables, on top of Bastion's own (HTTP_ADDR, timeouts…)."""

    database_url: str = "sqlite:///orders.db"
    jwt_secret: Secret | None = None
    jwt_issuer: str = "orders-demo"
    api_keys: Secret | None = None  # "client:key,client2:key2"
    upstream_url: str = ""  # the screening service `create` calls; /readyz pings it


def build(settings: Settings | None = None) -> bastion.App:
    """Build the App from `settings` (read from the environment when None)."""
    settings = settings or load_or_exit(Settings)
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else DEMO_JWT_SECRET
    jwt = JWTVerifier(key=secret, algorithms=["HS256"], issuer=settings.jwt_issuer)
    keys = APIKeyStore()
    raw_keys = settings.api_keys.get_secret_value() if settings.api_keys else f"demo:{DEMO_API_KEY}"
    for pair in raw_keys.split(","):
        client, _, key = pair.strip().partition(":")
        keys.add(client, key)
    upstream = None
    if settings.upstream_url:
        upstream = bastion.otel.sync_client(base_url=settings.upstream_url, timeout=2.0)
    orders = Orders(settings.database_url, jwt, keys, upstream)
    checks: list[Any] = [bastion.health.SQLPinger("database", settings.database_url)]
    if settings.redis_url:
        checks.append(bastion.health.RedisPinger("cache", settings.redis_url))
    if settings.upstream_url:
        checks.append(bastion.health.HTTPPinger("upstream", settings.upstream_url))
    pathlib.Path(sqlite_path(settings.database_url)).parent.mkdir(parents=True, exist_ok=True)
    return bastion.App(
        api,
        services={"orders": orders, "health": Health()},
        checks=checks,
        config=settings,
    )


def __getattr__(name: str) -> Any:
    # `bastion serve examples.orders.main:app` builds the app on first access only.
    if name == "app":
        return build()
    raise AttributeError(name)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("LOG_FORMAT", "terminal")
    bastion.run("examples.orders.main:app")
