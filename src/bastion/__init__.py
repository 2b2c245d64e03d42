"""Bastion: a design-first service framework for Python.

Describe the API once with `bastion.dsl`, implement its services as plain classes, and
serve them with `App`, which validates, secures, observes and documents every request.
"""

from bastion.app import App
from bastion.endpoint import Endpoints, ImplementationError, MethodInfo
from bastion.errors import (
    BastionError,
    ConfigError,
    DesignError,
    Forbidden,
    ServiceError,
    Unauthorized,
    make_error,
)

__all__ = [
    "App",
    "BastionError",
    "ConfigError",
    "DesignError",
    "Endpoints",
    "Forbidden",
    "ImplementationError",
    "MethodInfo",
    "ServiceError",
    "Unauthorized",
    "make_error",
]

__version__ = "0.1.0"
