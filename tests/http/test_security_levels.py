"""Where the design puts security, end to end over HTTP (Goa's semantics).

The API default, a service's and a method's own `Security` (the nearest wins),
`NoSecurity()`; several `Security` calls as alternatives (any one passing is enough, and
a refusal names the credential that was presented) and one call naming several schemes
(all of them needed). SecuredApp from the levels design with real verifiers.
"""

from __future__ import annotations

from bastion.security.testing import TokenFactory
from bastion.testing import TestClient
from tests.support.credentials import basic, bearer, key_header
from tests.support.errors import assert_error
from tests.support.secured import (
    ALICE_PASSWORD,
    APIKEY_CHALLENGE,
    BASIC_CHALLENGE,
    BOB_PASSWORD,
    KEY_GLOBEX,
    KEY_UNKNOWN,
    SecuredApp,
    assert_who,
)

# ---------------------------------------------------------------------------- levels


async def test_api_default_requires_a_bearer_token(levels_client: TestClient) -> None:
    r = await levels_client.get("/docs/read")
    assert_error(r, 401, "unauthorized", "missing credential for jwt")
    # RFC 6750 3.1: no error code when the request carried no token.
    assert r.headers["www-authenticate"] == 'Bearer realm="sec"'


async def test_api_default_accepts_a_token_with_its_scope(
    levels_client: TestClient, es256: TokenFactory
) -> None:
    r = await levels_client.get("/docs/read",
                                headers=bearer(es256.mint("ann", scopes=["api:read"])))
    assert_who(r, "ann", ["jwt"])


async def test_api_default_refuses_a_token_without_its_scope_naming_it(
    levels_client: TestClient, es256: TokenFactory
) -> None:
    r = await levels_client.get("/docs/read",
                                headers=bearer(es256.mint("ann", scopes=["api:write"])))
    assert_error(r, 403, "forbidden", "missing scopes: api:read")
    assert r.headers["www-authenticate"] == (
        'Bearer realm="sec", error="insufficient_scope", scope="api:read"'
    )


async def test_api_default_refuses_basic_credentials(levels_client: TestClient) -> None:
    r = await levels_client.get("/docs/read", headers=basic("alice", ALICE_PASSWORD))
    assert_error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith('Bearer realm="sec"')


async def test_method_override_requires_its_own_scope(
    levels_client: TestClient, es256: TokenFactory
) -> None:
    reader = bearer(es256.mint("ann", scopes=["api:read"]))
    r = await levels_client.post("/docs/write", headers=reader)
    assert_error(r, 403, "forbidden", "missing scopes: api:write")
    assert r.headers["www-authenticate"] == (
        'Bearer realm="sec", error="insufficient_scope", scope="api:write"'
    )
    writer = bearer(es256.mint("wes", scopes=["api:write"]))
    assert_who(await levels_client.post("/docs/write", headers=writer), "wes", ["jwt"])


async def test_no_security_makes_a_method_public_under_an_api_default(
    levels_client: TestClient, levels: SecuredApp
) -> None:
    r = await levels_client.get("/docs/public")
    # The method ran, and without a principal: principal() raised NoPrincipalError.
    assert_who(r, "nobody", [])
    assert "www-authenticate" not in r.headers
    assert levels.auth_failures() == []


async def test_no_security_ignores_a_bad_credential(levels_client: TestClient) -> None:
    r = await levels_client.get("/docs/public", headers=bearer("not-a-token"))
    assert_who(r, "nobody", [])


async def test_service_override_replaces_the_api_default(
    levels_client: TestClient, es256: TokenFactory
) -> None:
    assert_who(
        await levels_client.get("/admin/whoami", headers=basic("alice", ALICE_PASSWORD)),
        "alice",
        ["basic"],
    )
    # The API default (JWT) does not apply to this service any more.
    r = await levels_client.get("/admin/whoami",
                                headers=bearer(es256.mint("ann", scopes=["api:read"])))
    assert_error(r, 401, "unauthorized", "missing credential for basic")
    assert r.headers["www-authenticate"] == BASIC_CHALLENGE


async def test_service_override_refuses_a_wrong_password(levels_client: TestClient) -> None:
    r = await levels_client.get("/admin/whoami", headers=basic("alice", BOB_PASSWORD))
    assert_error(r, 401, "unauthorized", "invalid username or password")
    assert r.headers["www-authenticate"] == BASIC_CHALLENGE


async def test_service_override_refuses_an_unknown_user_like_a_wrong_password(
    levels_client: TestClient,
) -> None:
    r = await levels_client.get("/admin/whoami", headers=basic("mallory", ALICE_PASSWORD))
    assert_error(r, 401, "unauthorized", "invalid username or password")


async def test_method_override_beats_the_service_override(levels_client: TestClient) -> None:
    assert_who(await levels_client.get("/admin/keyed", headers=key_header(KEY_GLOBEX)), "globex",
               ["api_key"])
    r = await levels_client.get("/admin/keyed", headers=basic("alice", ALICE_PASSWORD))
    assert_error(r, 401, "unauthorized", "missing credential for api_key")
    assert r.headers["www-authenticate"] == APIKEY_CHALLENGE


# ---------------------------------------------------------------------------- alternatives


async def test_alternatives_accept_the_first(levels_client: TestClient) -> None:
    assert_who(await levels_client.get("/docs/either", headers=key_header(KEY_GLOBEX)), "globex",
               ["api_key"])


async def test_alternatives_accept_the_second_and_log_no_failure(
    levels_client: TestClient, levels: SecuredApp
) -> None:
    r = await levels_client.get("/docs/either", headers=basic("alice", ALICE_PASSWORD))
    assert_who(r, "alice", ["basic"])
    assert levels.auth_failures() == []


async def test_alternatives_first_that_passes_wins(levels_client: TestClient) -> None:
    headers = {**key_header(KEY_GLOBEX), **basic("alice", ALICE_PASSWORD)}
    assert_who(await levels_client.get("/docs/either", headers=headers), "globex", ["api_key"])


async def test_alternatives_fall_through_a_bad_first_credential(levels_client: TestClient) -> None:
    headers = {**key_header(KEY_UNKNOWN), **basic("alice", ALICE_PASSWORD)}
    assert_who(await levels_client.get("/docs/either", headers=headers), "alice", ["basic"])


async def test_alternatives_none_passing_name_the_rejected_credential_and_every_challenge(
    levels_client: TestClient, levels: SecuredApp
) -> None:
    r = await levels_client.get("/docs/either", headers=key_header(KEY_UNKNOWN))
    # The key was presented and rejected; the last alternative (basic) had no credential.
    # The answer, the log line and the metric name the key: "missing" would hide the guess.
    assert_error(r, 401, "unauthorized", "invalid API key")
    assert r.headers["www-authenticate"] == f"{APIKEY_CHALLENGE}, {BASIC_CHALLENGE}"
    failures = levels.auth_failures()
    assert len(failures) == 1  # once per call, not once per alternative
    assert failures[0]["scheme"] == "api_key"
    assert failures[0]["reason"] == "invalid"
    assert (failures[0]["service"], failures[0]["method"]) == ("docs", "either")


async def test_alternatives_with_nothing_presented_answer_the_last_missing_credential(
    levels_client: TestClient, levels: SecuredApp
) -> None:
    r = await levels_client.get("/docs/either")
    assert_error(r, 401, "unauthorized", "missing credential for basic")
    assert r.headers["www-authenticate"] == f"{APIKEY_CHALLENGE}, {BASIC_CHALLENGE}"
    [failure] = levels.auth_failures()
    assert (failure["scheme"], failure["reason"]) == ("basic", "missing")


async def test_alternatives_a_presented_token_refused_for_scope_beats_a_missing_key(
    levels_client: TestClient, es256: TokenFactory, levels: SecuredApp
) -> None:
    # First alternative: a JWT lacking api:write (403); last: no API key (401). The token
    # was presented: its refusal is the answer, not the key nobody sent.
    r = await levels_client.get(
        "/docs/scoped-then-key", headers=bearer(es256.mint("ann", scopes=["api:read"]))
    )
    assert_error(r, 403, "forbidden", "missing scopes: api:write")
    assert r.headers["www-authenticate"] == (
        'Bearer realm="sec", error="insufficient_scope", scope="api:write"'
    )
    [failure] = levels.auth_failures()
    assert (failure["scheme"], failure["reason"]) == ("jwt", "insufficient_scope")


async def test_alternatives_last_error_is_a_403_after_a_401(
    levels_client: TestClient, es256: TokenFactory
) -> None:
    # First alternative: no API key (401); last: a JWT lacking api:write (403).
    r = await levels_client.get(
        "/docs/key-then-scoped", headers=bearer(es256.mint("ann", scopes=["api:read"]))
    )
    assert_error(r, 403, "forbidden", "missing scopes: api:write")
    assert r.headers["www-authenticate"] == (
        'Bearer realm="sec", error="insufficient_scope", scope="api:write"'
    )


async def test_a_wrong_api_key_beside_a_token_alternative_is_named_in_answer_log_and_metric(
    levels: SecuredApp,
) -> None:
    # Issue: alternatives API key or JWT, a wrong key and no token answered "missing
    # credential for jwt" and was counted as jwt/missing; the key's failure was lost.
    async with TestClient(levels.app) as c:
        r = await c.get("/docs/key-then-scoped", headers=key_header(KEY_UNKNOWN))
        assert_error(r, 401, "unauthorized", "invalid API key")
        assert r.headers["www-authenticate"] == f'{APIKEY_CHALLENGE}, Bearer realm="sec"'
        r = await c.get("/docs/key-then-scoped")  # nothing presented: "missing" is right
        assert_error(r, 401, "unauthorized", "missing credential for jwt")
    failures = [(x["scheme"], x["reason"]) for x in levels.auth_failures()]
    assert failures == [("api_key", "invalid"), ("jwt", "missing")]
    async with TestClient(levels.app.admin_app) as admin:
        text = (await admin.get("/metrics")).text
    counted = {line.split(" ")[0] for line in text.splitlines()
               if line.startswith("bastion_auth_failures")}
    assert any('scheme="api_key"' in x and 'reason="invalid"' in x for x in counted)
    assert not any('scheme="jwt"' in x and 'reason="invalid"' in x for x in counted)


# ---------------------------------------------------------------------------- combinations


async def test_combined_requirement_needs_both_schemes(levels_client: TestClient) -> None:
    r = await levels_client.get("/docs/both", headers=key_header(KEY_GLOBEX))
    assert_error(r, 401, "unauthorized", "missing credential for basic")
    r = await levels_client.get("/docs/both", headers=basic("alice", ALICE_PASSWORD))
    assert_error(r, 401, "unauthorized", "missing credential for api_key")


async def test_combined_requirement_refuses_one_bad_credential(levels_client: TestClient) -> None:
    headers = {**key_header(KEY_GLOBEX), **basic("alice", BOB_PASSWORD)}
    assert_error(await levels_client.get("/docs/both", headers=headers), 401, "unauthorized",
                 "invalid username or password")


async def test_combined_requirement_passes_with_both_and_principal_is_the_first_schemes(
    levels_client: TestClient,
) -> None:
    headers = {**key_header(KEY_GLOBEX), **basic("alice", ALICE_PASSWORD)}
    assert_who(await levels_client.get("/docs/both", headers=headers), "globex",
               ["api_key", "basic"])
