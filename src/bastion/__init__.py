"""Bastion: a design-first service framework for Python.

Describe the API once with `bastion.dsl`, implement its services as plain classes, and
serve them with `App`, which validates, secures, observes and documents every request.
"""

from typing import TYPE_CHECKING, Any

from bastion import debug, health, log, otel
from bastion.app import App
from bastion.endpoint import Endpoints, ImplementationError, MethodInfo
from bastion.endpoint.interceptors import (
    InterceptorAccessError,
    InterceptorInfo,
    InterceptorWriteError,
    Next,
)
from bastion.endpoint.lifetime import cancelled, committing, deadline, remaining
from bastion.errors import (
    BastionError,
    Cancelled,
    ConfigError,
    DesignError,
    Forbidden,
    ServiceError,
    Unauthorized,
    make_error,
)
from bastion.http.codecs import Codec
from bastion.http.multipart import Part, Upload
from bastion.http.rawbody import RequestBody
from bastion.operations import Operation, Operations, Viewed
from bastion.options import Debug, Docs, Observe
from bastion.schema.union import OneOfValue
from bastion.security import (
    APIKeyScheme,
    BasicScheme,
    JWTScheme,
    OAuth2Scheme,
    Principal,
    Scheme,
    principal,
)

if TYPE_CHECKING:
    from bastion.server import run

__all__ = [
    "APIKeyScheme",
    "App",
    "BasicScheme",
    "BastionError",
    "Cancelled",
    "Codec",
    "ConfigError",
    "Debug",
    "DesignError",
    "Docs",
    "Endpoints",
    "Forbidden",
    "ImplementationError",
    "InterceptorAccessError",
    "InterceptorInfo",
    "InterceptorWriteError",
    "JWTScheme",
    "MethodInfo",
    "Next",
    "OAuth2Scheme",
    "Observe",
    "OneOfValue",
    "Operation",
    "Operations",
    "Part",
    "Principal",
    "RequestBody",
    "Scheme",
    "ServiceError",
    "Unauthorized",
    "Upload",
    "Viewed",
    "cancelled",
    "committing",
    "deadline",
    "debug",
    "health",
    "log",
    "make_error",
    "otel",
    "principal",
    "remaining",
    "run",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The server (and uvicorn) load only when a process serves, not when a design imports.
    if name == "run":
        from bastion.server import run

        return run
    raise AttributeError(f"module 'bastion' has no attribute {name!r}")
