"""The runtime description of a design's security schemes and of a method's requirements.

The DSL builds these plain values from the design; the enforcer compiles them once at
startup and passes `Scheme` to the service's auth handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from bastion.errors import DesignError

__all__ = [
    "APIKeyScheme",
    "BasicScheme",
    "JWTScheme",
    "OAuth2Scheme",
    "Requirement",
    "Scheme",
    "SchemeKind",
    "SchemeRef",
]

#: The kinds of scheme a design can declare; each maps to one auth handler on the service.
SchemeKind: TypeAlias = Literal["basic", "apikey", "jwt", "oauth2"]

_KINDS = frozenset({"basic", "apikey", "jwt", "oauth2"})


@dataclass(frozen=True, slots=True)
class Scheme:
    """A security scheme of the design, as an auth handler sees it.

    `scopes` are the names the design declares for the scheme; `required_scopes` are the
    ones the method being called requires (the enforcer fills them per requirement).
    """

    name: str
    kind: SchemeKind
    description: str = ""
    scopes: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise DesignError(
                f"security scheme {self.name!r}: kind {self.kind!r} is not one of "
                f"{', '.join(sorted(_KINDS))}"
            )


# Readable annotations for handlers: `async def jwt_auth(self, token: str, scheme: JWTScheme)`.
BasicScheme = Scheme
APIKeyScheme = Scheme
JWTScheme = Scheme
OAuth2Scheme = Scheme


@dataclass(frozen=True, slots=True)
class SchemeRef:
    """One scheme of a requirement and where its credential is in the payload.

    `credential` names the payload attribute holding the key or token; for a Basic scheme
    it is the pair `(username_attribute, password_attribute)`.
    """

    scheme: Scheme
    credential: str | tuple[str, str]


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `Security(...)` call of the design: ALL its schemes must pass, then `scopes`.

    A method's requirements are a tuple of these, tried in order as alternatives; an empty
    tuple makes the method public.
    """

    schemes: tuple[SchemeRef, ...]
    scopes: tuple[str, ...] = ()
