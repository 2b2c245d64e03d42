from __future__ import annotations

import pathlib
import re
from typing import Any

import msgspec
import pytest

import bastion
from bastion.dsl.expr import SchemeKind
from bastion.security import (
    APIKeyScheme,
    BasicScheme,
    JWTScheme,
    OAuth2Scheme,
    Principal,
    Requirement,
    Scheme,
    SchemeRef,
    secure,
)
from bastion.security.handlers import HANDLER_NAMES

SECURITY = pathlib.Path(bastion.__file__).parent / "security"


def test_each_kind_is_its_own_type_and_of_builds_it() -> None:
    cases = [(SchemeKind.BASIC, BasicScheme), (SchemeKind.APIKEY, APIKeyScheme),
             (SchemeKind.JWT, JWTScheme), (SchemeKind.OAUTH2, OAuth2Scheme)]
    for kind, cls in cases:
        built = Scheme.of(kind.value, "s", scopes=("a",))
        assert type(built) is cls and built.kind is kind and isinstance(built, Scheme)
        assert built == cls("s", scopes=("a",))
    assert JWTScheme("s") != OAuth2Scheme("s")  # same fields, another kind
    assert set(HANDLER_NAMES) == set(SchemeKind)
    with pytest.raises(TypeError, match="BasicScheme"):
        Scheme("s")


def test_scheme_kinds_are_strings_where_they_are_read() -> None:
    assert SchemeKind.JWT == "jwt" and f"{SchemeKind.APIKEY}" == "apikey"
    assert [k.is_bearer for k in SchemeKind] == [False, False, True, True]


async def test_handlers_receive_the_scheme_type_of_their_kind() -> None:
    class Payload(msgspec.Struct):
        token: str | None = None
        key: str | None = None

    seen: list[Scheme] = []

    class Svc:
        async def jwt_auth(self, token: str, scheme: JWTScheme) -> Principal:
            seen.append(scheme)
            return Principal("j", frozenset({"api:read"}))

        async def api_key_auth(self, key: str, scheme: APIKeyScheme) -> Principal:
            seen.append(scheme)
            return Principal("k")

    async def endpoint(payload: Any) -> str:
        return "ok"

    reqs = (
        Requirement((SchemeRef(JWTScheme("jwt", scopes=("api:read",)), "token"),),
                    scopes=("api:read",)),
        Requirement((SchemeRef(APIKeyScheme("key"), "key"),)),
    )
    svc = Svc()
    ep = secure(endpoint, reqs, {SchemeKind.JWT: svc.jwt_auth,
                                 SchemeKind.APIKEY: svc.api_key_auth}, method_name="m")
    await ep(Payload(token="t"))
    await ep(Payload(key="k"))
    assert [type(s) for s in seen] == [JWTScheme, APIKeyScheme]
    assert seen[0].required_scopes == ("api:read",)


def test_the_security_layer_says_nothing_of_http() -> None:
    # Security decides and says why; each transport renders it. No header, status code or
    # import of the HTTP transport belongs in its modules.
    http_words = re.compile(
        r"WWW-Authenticate|RateLimit-|Retry-After|bastion\.http|\b(401|403|429|503)\b"
    )
    offenders = []
    for path in sorted(SECURITY.glob("*.py")):
        code = "\n".join(line.partition("#")[0] for line in path.read_text().splitlines())
        for match in http_words.finditer(_code_only(code)):
            offenders.append(f"{path.name}: {match.group(0)}")
    assert offenders == []


def _code_only(source: str) -> str:
    # Docstrings may mention how transports render a refusal; code may not use it.
    return re.sub(r'"""(.|\n)*?"""', "", source)


def test_scheme_kinds_are_never_compared_as_string_literals() -> None:
    src = SECURITY.parent
    pattern = re.compile(r"""\.kind\s*(==|!=|in)\s*[("']+(basic|apikey|jwt|oauth2)['"]""")
    found = [
        f"{p.relative_to(src)}:{n}"
        for p in sorted(src.rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
