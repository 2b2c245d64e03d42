from __future__ import annotations

from bastion.errors import Forbidden, Unauthorized
from bastion.security import AuthenticationError, AuthorizationError, RateLimited, www_authenticate
from bastion.security.ratelimit import Decision


def test_basic_401_asks_for_basic_credentials() -> None:
    err = AuthenticationError("invalid username or password", scheme="basic", kind="basic")
    assert www_authenticate(err, "orders") == 'Basic realm="orders", charset="UTF-8"'


def test_bearer_401_without_a_token_has_no_error_code() -> None:
    err = AuthenticationError("missing", reason="missing", scheme="jwt", kind="jwt")
    assert www_authenticate(err, "orders") == 'Bearer realm="orders"'


def test_bearer_401_with_a_bad_token_says_invalid_token_with_fixed_text() -> None:
    err = AuthenticationError('evil" injected', reason="expired", scheme="jwt", kind="jwt")
    value = www_authenticate(err, "orders")
    assert value == (
        'Bearer realm="orders", error="invalid_token", error_description="The access token expired"'
    )


def test_alternatives_give_one_challenge_per_kind() -> None:
    err = AuthenticationError(
        "invalid API key",
        scheme="api_key",
        kind="apikey",
        alternatives=("jwt", "oauth2", "apikey", "basic"),
    )
    assert www_authenticate(err, "orders") == (
        'Bearer realm="orders", APIKey realm="orders", Basic realm="orders", charset="UTF-8"'
    )


def test_insufficient_scope_names_the_required_scopes() -> None:
    err = AuthorizationError(
        "missing scopes: api:write",
        missing_scopes=("api:write",),
        required_scopes=("api:read", "api:write"),
        kind="oauth2",
    )
    assert www_authenticate(err, "orders") == (
        'Bearer realm="orders", error="insufficient_scope", scope="api:read api:write"'
    )


def test_no_header_for_non_bearer_403_rate_limits_or_unknown_kinds() -> None:
    assert www_authenticate(AuthorizationError("no", kind="basic"), "r") is None
    assert www_authenticate(Forbidden("no"), "r") is None
    assert www_authenticate(RateLimited("slow", Decision(False, 1, 0, 1.0)), "r") is None
    assert www_authenticate(Unauthorized("who?"), "r") is None


def test_realm_is_quoted_safely() -> None:
    err = AuthenticationError("x", kind="basic")
    value = www_authenticate(err, 'my "api"\r\nX-Evil: 1')
    assert value == 'Basic realm="my \\"api\\"X-Evil: 1", charset="UTF-8"'
