from __future__ import annotations

from bastion.dsl.expr import SchemeKind
from bastion.errors import Forbidden, Unauthorized
from bastion.http.autherrors import SecurityResponses
from bastion.http.challenge import www_authenticate
from bastion.security import RateLimited
from bastion.security.ratelimit import Decision


def test_basic_401_asks_for_basic_credentials() -> None:
    err = Unauthorized("invalid username or password", scheme="basic", kind="basic")
    assert www_authenticate(err, "orders") == 'Basic realm="orders", charset="UTF-8"'


def test_bearer_401_without_a_token_has_no_error_code() -> None:
    err = Unauthorized("missing", reason="missing", scheme="jwt", kind="jwt")
    assert www_authenticate(err, "orders") == 'Bearer realm="orders"'


def test_bearer_401_with_a_bad_token_says_invalid_token_with_fixed_text() -> None:
    err = Unauthorized('evil" injected', reason="expired", scheme="jwt", kind="jwt")
    value = www_authenticate(err, "orders")
    assert value == (
        'Bearer realm="orders", error="invalid_token", error_description="The access token expired"'
    )


def test_alternatives_give_one_challenge_per_kind() -> None:
    err = Unauthorized(
        "invalid API key",
        scheme="api_key",
        kind="apikey",
        alternatives=("jwt", "oauth2", "apikey", "basic"),
    )
    assert www_authenticate(err, "orders") == (
        'Bearer realm="orders", APIKey realm="orders", Basic realm="orders", charset="UTF-8"'
    )


def test_insufficient_scope_names_the_required_scopes() -> None:
    err = Forbidden(
        "missing scopes: api:write",
        missing_scopes=("api:write",),
        required_scopes=("api:read", "api:write"),
        kind="oauth2",
    )
    assert www_authenticate(err, "orders") == (
        'Bearer realm="orders", error="insufficient_scope", scope="api:read api:write"'
    )


def test_no_header_for_non_bearer_403_or_unknown_kinds() -> None:
    assert www_authenticate(Forbidden("no", kind="basic"), "r") is None
    assert www_authenticate(Forbidden("no"), "r") is None
    assert www_authenticate(Unauthorized("who?"), "r") is None


def test_realm_is_quoted_safely() -> None:
    err = Unauthorized("x", kind="basic")
    value = www_authenticate(err, 'my "api"\r\nX-Evil: 1')
    assert value == 'Basic realm="my \\"api\\"X-Evil: 1", charset="UTF-8"'


def test_kinds_given_as_their_values_are_the_enum() -> None:
    err = Unauthorized("x", kind="jwt", alternatives=("jwt", "basic"))
    assert err.kind is SchemeKind.JWT and err.alternatives == (SchemeKind.JWT, SchemeKind.BASIC)
    assert Forbidden("no", kind="oauth2").kind is SchemeKind.OAUTH2


def test_a_rate_limit_refusal_gets_no_challenge_but_its_limit_headers() -> None:
    answer = SecurityResponses("r")(RateLimited("slow", Decision(False, 5, 0, 12.2, 60)))
    assert answer is not None
    status, name, _, headers = answer
    assert (status, name) == (429, "too_many_requests")
    assert dict(headers) == {
        b"ratelimit-limit": b"5",
        b"ratelimit-remaining": b"0",
        b"ratelimit-reset": b"13",
        b"ratelimit-policy": b"5;w=60",
        b"retry-after": b"13",
    }
