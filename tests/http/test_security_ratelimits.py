"""Rate limits and the brute-force lockout, end to end over HTTP.

A method's or a service's `RateLimit`, a scheme's limit per client, the lockout per
address and per credential: a 429 with `Retry-After` and the `RateLimit-*` headers, no
challenge, counted per App. The shared limiter runs against a real `redis-server`, killed
and restarted mid-run; limits from the environment override the design.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import bastion
from bastion.dsl import (
    API,
    GET,
    HTTP,
    POST,
    APIExpr,
    APIKey,
    APIKeySecurity,
    BasicAuthSecurity,
    Method,
    NoSecurity,
    Password,
    Payload,
    RateLimit,
    Security,
    Service,
    String,
    Username,
)
from bastion.security import BasicVerifier, RateLimiter, RateLimits
from bastion.testing import TestClient
from tests.support.credentials import basic, key_header
from tests.support.errors import assert_error
from tests.support.secured import (
    ALICE_PASSWORD,
    BOB_PASSWORD,
    KEY_ACME_NEW,
    KEY_ACME_OLD,
    KEY_EXPIRED,
    KEY_GLOBEX,
    KEY_UNKNOWN,
    PASSWORD_HASHES,
    Keys,
    assert_who,
    key_store,
    keys_design,
    serve,
    who,
    who_result,
)
from tests.support.servers import RedisServer


def limited_design() -> APIExpr:
    with API("limited") as api:
        key = APIKeySecurity("api_key")
    with Service("limited"):
        with Method("public"):
            NoSecurity()
            RateLimit("3/minute")
            who_result()
            with HTTP():
                GET("/public")
        with Method("secured"):
            Security(key)
            RateLimit("3/minute")
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/secured")
        with Method("unlimited"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
            who_result()
            with HTTP():
                GET("/unlimited")
    return api


class Limited:
    def __init__(self) -> None:
        self.api_key_auth = key_store()
        self.calls = 0

    async def public(self) -> dict[str, Any]:
        self.calls += 1
        return {"subject": "nobody", "schemes": []}

    async def secured(self, p: Any) -> dict[str, Any]:
        self.calls += 1
        return who()

    async def unlimited(self, p: Any) -> dict[str, Any]:
        self.calls += 1
        return who()


def assert_limit_headers(r: httpx.Response, limit: int, remaining: int) -> None:
    assert r.headers["ratelimit-limit"] == str(limit)
    assert r.headers["ratelimit-remaining"] == str(remaining)
    assert 0 <= int(r.headers["ratelimit-reset"]) <= 60


def assert_429(r: httpx.Response, limit: int) -> None:
    assert_error(r, 429, "too_many_requests", "rate limit exceeded")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert_limit_headers(r, limit, 0)
    assert "www-authenticate" not in r.headers


# ---------------------------------------------------------------------------- request limits


async def test_method_rate_limit_fourth_call_is_a_429_with_headers() -> None:
    impl = Limited()
    served = serve(limited_design(), {"limited": impl})
    async with TestClient(served.app) as c:
        for remaining in (2, 1, 0):
            r = await c.get("/public")
            assert r.status_code == 200
            assert_limit_headers(r, 3, remaining)
            assert "retry-after" not in r.headers
        assert_429(await c.get("/public"), 3)
    assert impl.calls == 3
    [failure] = served.auth_failures()
    assert (failure["service"], failure["method"], failure["reason"]) == (
        "limited", "public", "rate_limited"
    )


async def test_method_rate_limit_on_a_public_method_counts_per_address() -> None:
    served = serve(limited_design(), {"limited": Limited()})
    async with TestClient(served.app) as c:
        for _ in range(3):
            assert (await c.get("/public")).status_code == 200
        assert_429(await c.get("/public"), 3)
    async with TestClient(served.app, client=("127.0.0.2", 40000)) as other:
        r = await other.get("/public")
        assert r.status_code == 200
        assert_limit_headers(r, 3, 2)


async def test_method_rate_limit_on_a_secured_method_counts_per_principal() -> None:
    impl = Limited()
    served = serve(limited_design(), {"limited": impl})
    async with TestClient(served.app) as c:
        for remaining in (2, 1, 0):
            r = await c.get("/secured", headers=key_header(KEY_GLOBEX))
            assert_who(r, "globex", ["api_key"])
            assert_limit_headers(r, 3, remaining)
        assert_429(await c.get("/secured", headers=key_header(KEY_GLOBEX)), 3)
        # Acme has its own budget, the limit does not reach another method.
        assert_who(await c.get("/secured", headers=key_header(KEY_ACME_NEW)), "acme",
                   ["api_key"])
        r = await c.get("/unlimited", headers=key_header(KEY_GLOBEX))
        assert_who(r, "globex", ["api_key"])
        assert "ratelimit-limit" not in r.headers
    assert impl.calls == 5


async def test_method_rate_limit_is_checked_after_authentication() -> None:
    served = serve(limited_design(), {"limited": Limited()})
    async with TestClient(served.app) as c:
        for _ in range(5):
            r = await c.get("/secured")
            assert_error(r, 401, "unauthorized", "missing credential for api_key")


async def test_two_apps_in_one_process_keep_their_own_memory_counts() -> None:
    a = serve(limited_design(), {"limited": Limited()})
    b = serve(limited_design(), {"limited": Limited()})
    async with TestClient(a.app) as ca, TestClient(b.app) as cb:
        for _ in range(3):
            assert (await ca.get("/public")).status_code == 200
        assert (await ca.get("/public")).status_code == 429
        r = await cb.get("/public")
        assert r.status_code == 200
        assert_limit_headers(r, 3, 2)


async def test_api_key_scheme_limit_counts_per_client_across_methods_and_keys() -> None:
    served = serve(keys_design(scheme_limit="3/minute"), {"keys": Keys(key_store())})
    async with TestClient(served.app) as c:
        r = await c.get("/one", headers=key_header(KEY_ACME_OLD))
        assert_who(r, "acme", ["api_key"])
        assert_limit_headers(r, 3, 2)
        # Another method, and acme's rotated key: the same budget (the principal's subject).
        assert_limit_headers(await c.get("/two", headers=key_header(KEY_ACME_OLD)), 3, 1)
        assert_limit_headers(await c.get("/one", headers=key_header(KEY_ACME_NEW)), 3, 0)
        assert_429(await c.get("/two", headers=key_header(KEY_ACME_NEW)), 3)
        # Globex is counted on its own.
        r = await c.get("/one", headers=key_header(KEY_GLOBEX))
        assert_who(r, "globex", ["api_key"])
        assert_limit_headers(r, 3, 2)
    [failure] = served.auth_failures()
    assert (failure["scheme"], failure["reason"]) == ("api_key", "rate_limited")


async def test_service_rate_limit_applies_to_each_of_its_methods() -> None:
    with API("svc_limit") as api:
        pass
    with Service("svc_limit"):
        RateLimit("2/minute")
        for name in ("a", "b"):
            with Method(name):
                who_result()
                with HTTP():
                    GET(f"/{name}")

    class Svc:
        async def a(self) -> dict[str, Any]:
            return {"subject": "a", "schemes": []}

        async def b(self) -> dict[str, Any]:
            return {"subject": "b", "schemes": []}

    served = serve(api, {"svc_limit": Svc()})
    async with TestClient(served.app) as c:
        for path in ("/a", "/b"):
            for remaining in (1, 0):
                assert_limit_headers(await c.get(path), 2, remaining)
            assert_429(await c.get(path), 2)


# ---------------------------------------------------------------------------- brute-force lockout


async def test_brute_force_lockout_per_address_refuses_even_a_good_key() -> None:
    limits = RateLimits(failures_per_client="3/minute", failures_per_credential=None)
    served = serve(keys_design(), {"keys": Keys(key_store())}, limits=limits)
    async with TestClient(served.app) as c:
        for i in range(3):
            r = await c.get("/one", headers=key_header(f"guess-{i}-{KEY_UNKNOWN}"))
            assert_error(r, 401, "unauthorized", "invalid API key")
        r = await c.get("/one", headers=key_header(KEY_GLOBEX))
        assert_error(r, 429, "too_many_requests")
        assert int(r.headers["retry-after"]) >= 1
    # Another address is not locked out.
    async with TestClient(served.app, client=("127.0.0.9", 40000)) as other:
        assert_who(await other.get("/one", headers=key_header(KEY_GLOBEX)), "globex",
                   ["api_key"])
    reasons = [x["reason"] for x in served.auth_failures()]
    assert reasons == ["invalid", "invalid", "invalid", "locked_out"]


async def test_brute_force_lockout_per_basic_username() -> None:
    impl = Login()
    limits = RateLimits(failures_per_client=None, failures_per_credential="2/minute")
    served = serve(login_design(), {"login": impl}, limits=limits)
    async with TestClient(served.app) as c:
        for _ in range(2):
            assert (await c.post("/login", headers=basic("alice", "guess"))).status_code == 401
        # Alice's right password is refused now: her username is locked, before any hashing.
        r = await c.post("/login", headers=basic("alice", ALICE_PASSWORD))
        assert_error(r, 429, "too_many_requests")
        assert "www-authenticate" not in r.headers
        assert impl.checked == 2
        assert_who(await c.post("/login", headers=basic("bob", BOB_PASSWORD)), "bob", ["basic"])


async def test_expired_credentials_do_not_count_towards_lockout() -> None:
    limits = RateLimits(failures_per_client="3/minute", failures_per_credential="3/minute")
    served = serve(keys_design(), {"keys": Keys(key_store())}, limits=limits)
    async with TestClient(served.app) as c:
        for _ in range(6):
            assert_error(await c.get("/one", headers=key_header(KEY_EXPIRED)), 401,
                         "unauthorized", "API key expired")
        assert_who(await c.get("/one", headers=key_header(KEY_GLOBEX)), "globex", ["api_key"])


async def test_default_lockout_per_credential_after_ten_rejections() -> None:
    served = serve(keys_design(), {"keys": Keys(key_store())})
    async with TestClient(served.app) as c:
        for _ in range(10):
            assert (await c.get("/one", headers=key_header(KEY_UNKNOWN))).status_code == 401
        r = await c.get("/one", headers=key_header(KEY_UNKNOWN))
        assert_error(r, 429, "too_many_requests")
        # The address is under its own (30/minute) limit: a good key still works.
        assert_who(await c.get("/one", headers=key_header(KEY_GLOBEX)), "globex", ["api_key"])


def login_design() -> APIExpr:
    with API("login") as api:
        scheme = BasicAuthSecurity("basic")
    with Service("login"):
        with Method("login"):
            Security(scheme)
            with Payload():
                Username("user", String)
                Password("password", String)
            who_result()
            with HTTP():
                POST("/login")
    return api


class Login:
    """Basic auth through a real verifier, counting the passwords it is asked to check."""

    def __init__(self) -> None:
        self.verifier = BasicVerifier(PASSWORD_HASHES)
        self.checked = 0

    async def basic_auth(self, user: str, password: str, scheme: bastion.BasicScheme) -> Any:
        self.checked += 1
        return await self.verifier(user, password, scheme)

    async def login(self, p: Any) -> dict[str, Any]:
        return who()


# ---------------------------------------------------------------------------- Redis


async def _get(c: TestClient, path: str, **kw: Any) -> httpx.Response:
    # A dead Redis must never hang a request: bound every one.
    with anyio.fail_after(5):
        return await c.get(path, **kw)


@pytest.mark.integration
async def test_two_apps_share_counts_through_redis(redis: RedisServer) -> None:
    a = serve(limited_design(), {"limited": Limited()}, limiter=RateLimiter(redis.url))
    b = serve(limited_design(), {"limited": Limited()}, limiter=RateLimiter(redis.url))
    async with TestClient(a.app) as ca, TestClient(b.app) as cb:
        assert_limit_headers(await _get(ca, "/public"), 3, 2)
        assert_limit_headers(await _get(cb, "/public"), 3, 1)
        assert_limit_headers(await _get(ca, "/public"), 3, 0)
        assert_429(await _get(cb, "/public"), 3)
        assert_429(await _get(ca, "/public"), 3)
        # Secured: counted per principal, shared too.
        for c, remaining in ((ca, 2), (cb, 1), (ca, 0)):
            r = await _get(c, "/secured", headers=key_header(KEY_GLOBEX))
            assert_who(r, "globex", ["api_key"])
            assert_limit_headers(r, 3, remaining)
        assert_429(await _get(cb, "/secured", headers=key_header(KEY_GLOBEX)), 3)


@pytest.mark.integration
async def test_two_apps_share_lockouts_through_redis(redis: RedisServer) -> None:
    limits = RateLimits(failures_per_client="2/minute", failures_per_credential=None)
    a = serve(keys_design(), {"keys": Keys(key_store())}, limiter=RateLimiter(redis.url),
              limits=limits)
    b = serve(keys_design(), {"keys": Keys(key_store())}, limiter=RateLimiter(redis.url),
              limits=limits)
    async with TestClient(a.app) as ca, TestClient(b.app) as cb:
        assert (await _get(ca, "/one", headers=key_header(KEY_UNKNOWN))).status_code == 401
        assert (await _get(cb, "/one", headers=key_header(KEY_UNKNOWN))).status_code == 401
        assert_error(await _get(ca, "/one", headers=key_header(KEY_GLOBEX)), 429,
                     "too_many_requests")


@pytest.mark.integration
async def test_redis_killed_and_restarted_mid_run_falls_back_per_instance_then_recovers(
    redis: RedisServer,
) -> None:
    served = serve(limited_design(), {"limited": Limited()}, limiter=RateLimiter(redis.url))
    async with TestClient(served.app) as c:
        assert_limit_headers(await _get(c, "/public"), 3, 2)
        assert_who(await _get(c, "/secured", headers=key_header(KEY_GLOBEX)), "globex",
                   ["api_key"])

        redis.stop()  # SIGKILL, as a crash

        # An outage of the rate-limit store is no API outage: valid credentials pass.
        for path in ("/secured", "/unlimited"):
            r = await _get(c, path, headers=key_header(KEY_GLOBEX))
            assert_who(r, "globex", ["api_key"])
            assert "ratelimit-remaining" not in r.headers  # local counts are not published
        # Request limits still hold, per instance: three calls, then a 429.
        statuses = [(await _get(c, "/public")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        # Brute force stays bounded: ten rejected guesses of one key, then it is locked.
        for _ in range(10):
            assert_error(await _get(c, "/unlimited", headers=key_header(KEY_UNKNOWN)), 401,
                         "unauthorized", "invalid API key")
        r = await _get(c, "/unlimited", headers=key_header(KEY_UNKNOWN))
        assert_error(r, 429, "too_many_requests")
        assert int(r.headers["retry-after"]) >= 1

        redis.restart()
        # The shared counts take over again once Redis answers (the limiter asks again
        # every retry_interval): the restarted Redis is empty, so /public has its budget.
        with anyio.fail_after(20):  # a hang guard, not a speed assertion
            while "ratelimit-remaining" not in (r := await _get(c, "/public")).headers:
                await anyio.sleep(0.1)
        assert_limit_headers(r, 3, 2)
        assert_who(await _get(c, "/unlimited", headers=key_header(KEY_GLOBEX)), "globex",
                   ["api_key"])

    lines = served.logs.lines
    outage = [x for x in lines if "is unavailable" in x["msg"]]
    back = [x for x in lines if "available again" in x["msg"]]
    assert [x["level"] for x in outage] == ["warn"]  # once when it starts
    assert [x["level"] for x in back] == ["info"]  # once when it ends
    reasons = [x["reason"] for x in served.auth_failures()]
    assert reasons.count("locked_out") == 1 and "unavailable" not in reasons
    async with TestClient(served.app.admin_app) as admin:
        text = (await admin.get("/metrics")).text
    [sample] = [x for x in text.splitlines() if x.startswith("bastion_ratelimit_fallback")]
    # Every check answered locally is counted: at least the four /public hits and the
    # ten failures (each counted under the client and the key).
    assert float(sample.split()[-1]) >= 24


# ---------------------------------------------------------------------------- environment


async def test_rate_limits_from_the_environment_override_the_design() -> None:
    from bastion.config import Config, load

    with API("envlimits") as api:
        pass
    with Service("s"):
        with Method("fast"):
            RateLimit("100/minute")
            with HTTP():
                GET("/fast")
        with Method("free"):
            with HTTP():
                GET("/free")

    class S:
        async def fast(self) -> None: ...
        async def free(self) -> None: ...

    config = load(Config, env={"RATE_LIMITS": "s.fast=2/minute, s.free=1/minute"})
    app = bastion.App(api, {"s": S()}, config=config, observe=False)
    async with TestClient(app) as client:
        fast = [(await client.get("/fast")).status_code for _ in range(3)]
        free = [(await client.get("/free")).status_code for _ in range(2)]
    assert fast == [204, 204, 429]
    assert free == [204, 429]


def test_rate_limits_naming_nothing_in_the_design_fail_at_startup() -> None:
    from bastion.config import Config, load

    with API("envlimits2") as api:
        pass
    with Service("s"), Method("m"), HTTP():
        GET("/m")

    class S:
        async def m(self) -> None: ...

    config = load(Config, env={"RATE_LIMITS": "s.nope=1/minute"})
    with pytest.raises(bastion.ImplementationError, match=r"s\.nope"):
        bastion.App(api, {"s": S()}, config=config, observe=False)
