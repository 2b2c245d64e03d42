"""The runtime description of a design's security schemes and of a method's requirements.

The DSL builds these plain values from the design; the enforcer compiles them once at
startup and passes the `Scheme` to the service's auth handlers. Each kind of scheme is its
own type (`BasicScheme`, `APIKeyScheme`, `JWTScheme`, `OAuth2Scheme`), so a handler's
annotation says which scheme it serves and mypy can tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bastion.dsl.expr import SchemeKind
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


@dataclass(frozen=True, slots=True)
class Scheme:
    """A security scheme of the design, as an auth handler sees it.

    `scopes` are the names the design declares for the scheme; `required_scopes` are the
    ones the method being called requires (the enforcer fills them per requirement). Build
    one with the class of its kind, e.g. `JWTScheme("jwt", scopes=("api:read",))`, or with
    `Scheme.of(kind, name)` when the kind is data.
    """

    #: The kind of scheme, fixed by each subclass.
    kind: ClassVar[SchemeKind]

    name: str
    description: str = ""
    scopes: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if type(self) is Scheme:
            raise TypeError(
                "Scheme is the base of BasicScheme, APIKeyScheme, JWTScheme and OAuth2Scheme: "
                "build one of those, or use Scheme.of(kind, name)"
            )

    @staticmethod
    def of(
        kind: SchemeKind | str,
        name: str,
        description: str = "",
        scopes: tuple[str, ...] = (),
        required_scopes: tuple[str, ...] = (),
    ) -> Scheme:
        """Return the scheme of `kind` (a `SchemeKind` or its value, e.g. `"jwt"`)."""
        try:
            cls = _BY_KIND[SchemeKind(kind)]
        except ValueError:
            raise DesignError(
                f"security scheme {name!r}: kind {kind!r} is not one of "
                f"{', '.join(k.value for k in SchemeKind)}"
            ) from None
        return cls(name, description, scopes, required_scopes)


@dataclass(frozen=True, slots=True)
class BasicScheme(Scheme):
    """An HTTP Basic scheme: its handler gets a username and a password."""

    kind: ClassVar[SchemeKind] = SchemeKind.BASIC


@dataclass(frozen=True, slots=True)
class APIKeyScheme(Scheme):
    """An API key scheme: its handler gets the key."""

    kind: ClassVar[SchemeKind] = SchemeKind.APIKEY


@dataclass(frozen=True, slots=True)
class JWTScheme(Scheme):
    """A JWT bearer scheme: its handler gets the token."""

    kind: ClassVar[SchemeKind] = SchemeKind.JWT


@dataclass(frozen=True, slots=True)
class OAuth2Scheme(Scheme):
    """An OAuth2 scheme: its handler gets the access token."""

    kind: ClassVar[SchemeKind] = SchemeKind.OAUTH2


_BY_KIND: dict[SchemeKind, type[Scheme]] = {
    SchemeKind.BASIC: BasicScheme,
    SchemeKind.APIKEY: APIKeyScheme,
    SchemeKind.JWT: JWTScheme,
    SchemeKind.OAUTH2: OAuth2Scheme,
}


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
