"""Typed configuration from the environment: one clear error listing every bad variable.

Subclass `Config` to add your own variables; `load` reads and checks them all at once and
`describe` prints the table `bastion config` shows::

    from bastion.config import Config, Duration, Secret, load

    class Settings(Config):
        database_url: Secret          # required: DATABASE_URL
        cache_ttl: Duration = 300.0   # CACHE_TTL="5m"

    settings = load(Settings)         # raises ConfigError listing every problem
"""

from bastion.config._address import format_address, parse_address
from bastion.config._loader import describe, env_name, load, load_or_exit
from bastion.config._settings import Config, Secret
from bastion.config._units import (
    ByteSize,
    Duration,
    format_byte_size,
    format_duration,
    parse_byte_size,
    parse_duration,
)

__all__ = [
    "ByteSize",
    "Config",
    "Duration",
    "Secret",
    "describe",
    "env_name",
    "format_address",
    "format_byte_size",
    "format_duration",
    "load",
    "load_or_exit",
    "parse_address",
    "parse_byte_size",
    "parse_duration",
]
