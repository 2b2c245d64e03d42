"""No credential used in a request ever comes back out: not in logs, bodies, headers or spans.

A representative run (every scheme kind, good and bad credentials; 200, 400, 401, 403,
429 and 500 answers; debug logs on, payload logging on, tracing on) is captured whole:
every log line the App writes, every stdlib log record and byte on stdout/stderr, every
response body and header, every span (name, attributes, events) and metric data point.
Then each credential the run used (tokens and their signatures, API keys, passwords,
Basic header values) is searched for in all of it.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

import bastion
from bastion.dsl import (
    API,
    GET,
    HTTP,
    POST,
    AccessToken,
    APIExpr,
    APIKey,
    APIKeySecurity,
    Attribute,
    BasicAuthSecurity,
    ClientCredentialsFlow,
    Cookie,
    Error,
    JWTSecurity,
    Method,
    OAuth2Security,
    Param,
    Password,
    Payload,
    RateLimit,
    Required,
    Result,
    Security,
    Service,
    String,
    Token,
    Username,
)
from bastion.otel import configure
from bastion.security import APIKeyStore, BasicVerifier, Principal, RateLimiter, hash_password
from bastion.security.testing import TokenFactory
from bastion.testing import LogCapture, TestClient
from tests.support.credentials import bearer
from tests.support.servers import RedisServer
from tests.support.tokens import craft

ISSUER = "https://idp.vault.test/"
AUDIENCE = "vault"


def _password() -> str:
    # Characters that URL and Basic encodings change, so encoded leaks are searched too.
    return "pw+/=:" + secrets.token_urlsafe(18)


@dataclass
class Credentials:
    """Every credential the run sends; `secrets()` lists each form it may leak in."""

    tokens: TokenFactory = field(
        default_factory=lambda: TokenFactory("ES256", issuer=ISSUER, audience=AUDIENCE)
    )
    key_good: str = field(default_factory=APIKeyStore.generate)
    key_bad: str = field(default_factory=APIKeyStore.generate)
    key_crash: str = field(default_factory=APIKeyStore.generate)
    key_expired: str = field(default_factory=APIKeyStore.generate)
    password_good: str = field(default_factory=_password)
    password_bad: str = field(default_factory=_password)
    used: list[str] = field(default_factory=list)

    def use(self, value: str) -> str:
        """Record `value` as a credential the run sends, and return it."""
        self.used.append(value)
        return value

    def token(self, *, scopes: tuple[str, ...] = ("api:read",), **kw: Any) -> str:
        return self.use(self.tokens.mint("reader", scopes=scopes, **kw))

    def basic(self, user: str, password: str) -> dict[str, str]:
        self.use(password)
        self.use(f"{user}:{password}")
        value = self.use(base64.b64encode(f"{user}:{password}".encode()).decode())
        return {"Authorization": f"Basic {value}"}

    def secrets(self) -> set[str]:
        found = set(self.used) | {
            self.key_good, self.key_bad, self.key_crash, self.key_expired,
            self.password_good, self.password_bad,
        }
        for value in list(found):
            if value.count(".") == 2:  # a JWT: its signature alone is a secret too
                signature = value.rsplit(".", 1)[1]
                if len(signature) >= 16:
                    found.add(signature)
            found.add(quote(value, safe=""))
            found.add(quote(value))
        return {s for s in found if len(s) >= 12}


def vault_design() -> APIExpr:
    with API("vault") as api:
        jwt = JWTSecurity("jwt", scopes={"api:read": "Read", "api:write": "Write"})
        oauth = OAuth2Security("oauth2", flows=[ClientCredentialsFlow("https://idp.test/t")],
                               scopes={"api:read": "Read"})
        key = APIKeySecurity("api_key")
        basic = BasicAuthSecurity("basic")
        Security(jwt, scopes=["api:read"])
    with Service("vault"):
        Error("sealed", description="The vault is sealed")
        with Method("read"):
            with Payload():
                Token("token", String)
            with Result():
                Attribute("subject", String)
            with HTTP():
                GET("/jwt")
        with Method("write"):
            Security(jwt, scopes=["api:write"])
            with Payload():
                Token("token", String)
                Attribute("text", String, max_length=20)
                Required("text")
            with Result():
                Attribute("subject", String)
            with HTTP():
                POST("/notes")
        with Method("explode"):
            with Payload():
                Token("token", String)
            with HTTP():
                GET("/explode")
        with Method("login"):
            Security(basic)
            with Payload():
                Username("user", String)
                Password("password", String)
            with Result():
                Attribute("subject", String)
            with HTTP():
                POST("/login")
        with Method("by_header"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
            with Result():
                Attribute("subject", String)
            with HTTP():
                GET("/key/header")
        with Method("by_query"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
            with Result():
                Attribute("subject", String)
            with HTTP():
                GET("/key/query")
                Param("key:k")  # not a name the loggers know: the design tells them
        with Method("by_cookie"):
            Security(key)
            with Payload():
                APIKey("api_key", "key", String)
            with Result():
                Attribute("subject", String)
            with HTTP():
                GET("/key/cookie")
                Cookie("key:session")
        with Method("limited"):
            Security(key)
            RateLimit("2/minute")
            with Payload():
                APIKey("api_key", "key", String)
            with Result():
                Attribute("subject", String)
            with HTTP():
                GET("/limited")
        with Method("oauth"):
            Security(oauth, scopes=["api:read"])
            with Payload():
                AccessToken("token", String)
            with Result():
                Attribute("subject", String)
            with HTTP():
                GET("/oauth")
    return api


class Vault:
    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self.jwt_auth = creds.tokens.verifier()
        self.oauth2_auth = creds.tokens.verifier()
        self.basic_auth = BasicVerifier({"alice": hash_password(creds.password_good, cost=10)})
        self.store = APIKeyStore()
        self.store.add("acme", creds.key_good)
        self.store.add("old", creds.key_expired, expires_at=datetime.now(UTC) - timedelta(days=1))

    async def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> Principal:
        if key == self.creds.key_crash:
            raise RuntimeError("the key database is unavailable")
        return await self.store(key, scheme)

    @staticmethod
    def _who() -> dict[str, Any]:
        return {"subject": bastion.principal().subject}

    async def read(self, p: Any) -> dict[str, Any]:
        bastion.log.info("reading", subject=bastion.principal().subject)
        return self._who()

    async def write(self, p: Any) -> dict[str, Any]:
        return self._who()

    async def explode(self, p: Any) -> None:
        raise ValueError("the note store is corrupt")

    async def login(self, p: Any) -> dict[str, Any]:
        return self._who()

    async def by_header(self, p: Any) -> dict[str, Any]:
        return self._who()

    async def by_query(self, p: Any) -> dict[str, Any]:
        return self._who()

    async def by_cookie(self, p: Any) -> dict[str, Any]:
        return self._who()

    async def limited(self, p: Any) -> dict[str, Any]:
        return self._who()

    async def oauth(self, p: Any) -> dict[str, Any]:
        return self._who()


@dataclass
class Run:
    """What one representative run produced, and what it sent."""

    creds: Credentials
    responses: list[httpx.Response]
    log_lines: list[dict[str, Any]]
    log_text: str
    spans: list[dict[str, Any]]
    metrics_text: str
    stdlib_text: str = ""
    stdout: str = ""
    stderr: str = ""

    def statuses(self) -> set[int]:
        return {r.status_code for r in self.responses}

    def texts(self) -> dict[str, str]:
        """Every captured output, by where it came from."""
        out = {
            "app log": self.log_text,
            "stdlib log records": self.stdlib_text,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "spans": json.dumps(self.spans),
            "metrics": self.metrics_text,
        }
        for i, r in enumerate(self.responses):
            where = f"response {i} ({r.request.method} {r.request.url.path} -> {r.status_code})"
            out[f"{where} body"] = r.text
            out[f"{where} headers"] = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        return out


@pytest.fixture
def quiet_test_client() -> Iterator[None]:
    # The httpx logger writes the *test client's* request lines ("HTTP Request: GET
    # /key/query?k=..."), which the App routes into its log like any stdlib record. They are
    # the caller's output, not the service's: keep them out of what is searched.
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    yield
    httpx_logger.setLevel(level)


async def _scenario(creds: Credentials) -> Run:
    api = vault_design()
    logs = LogCapture(level="info")
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    # The App's own tracing and metrics, exporting to memory instead of a collector.
    telemetry = configure("vault", "1.0.0", env={}, span_exporter=exporter,
                          metric_readers=[reader], sampler=ALWAYS_ON,
                          install_globals=False)
    app = bastion.App(api, {"vault": Vault(creds)}, logger=logs.logger, telemetry=telemetry)
    app.logger.debug_enabled = True
    app.endpoints["vault"].use(bastion.debug.payload_logger())

    c = creds
    responses: list[httpx.Response] = []
    try:
        async with TestClient(app) as client:
            async def send(method: str, path: str, **kw: Any) -> httpx.Response:
                r = await client.request(method, path, **kw)
                responses.append(r)
                return r

            forger = TokenFactory("ES256", kid=c.tokens.kid, issuer=ISSUER, audience=AUDIENCE)
            claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE,
                      "exp": int(time.time()) + 60, "scope": "api:read api:write"}
            alg_none = c.use(craft({"alg": "none", "kid": c.tokens.kid}, claims))

            # JWT, from Authorization: 200, 401 (missing, expired, forged, alg none), 403,
            # 400 (invalid and malformed bodies with a valid token), 500.
            await send("GET", "/jwt", headers=bearer(c.token()))
            await send("GET", "/jwt")
            await send("GET", "/jwt", headers=bearer(c.token(expires_in=-600)))
            await send("GET", "/jwt", headers=bearer(c.use(forger.mint("mallory",
                                                                     scopes=["api:read"]))))
            await send("GET", "/jwt", headers=bearer(alg_none))
            await send("GET", "/jwt", headers=bearer(c.token(scopes=("api:write",))))
            await send("GET", "/jwt", headers={"Authorization": c.token()})  # no "Bearer"
            writer = c.token(scopes=("api:write",))
            await send("POST", "/notes", headers=bearer(writer), json={"text": "hello"})
            await send("POST", "/notes", headers=bearer(c.token()), json={"text": "hello"})
            await send("POST", "/notes", headers=bearer(writer), json={"text": 5})
            await send("POST", "/notes", headers=bearer(writer), json={"text": "x" * 50})
            await send("POST", "/notes", headers={**bearer(writer),
                                                  "content-type": "application/json"},
                       content=b'{"text": ')
            await send("GET", "/explode", headers=bearer(c.token()))
            await send("GET", "/jwt", params={"token": c.token()})  # a token where none goes

            # Basic: 200, wrong password, unknown user, malformed header, a 400 too.
            await send("POST", "/login", headers=c.basic("alice", c.password_good))
            await send("POST", "/login", headers=c.basic("alice", c.password_bad))
            await send("POST", "/login", headers=c.basic("mallory", c.password_good))
            await send("POST", "/login", headers={"Authorization": "Basic " + c.use(
                base64.b64encode(c.password_bad.encode()).decode())})
            await send("POST", "/notes", headers={**bearer(writer), "content-type": "text/plain"},
                       content=b"hello")  # 415

            # API keys in a header, a query parameter and a cookie; expired; a crashing
            # handler; a lockout after ten rejections of one key; a method rate limit.
            await send("GET", "/key/header", headers={"X-API-Key": c.key_good})
            await send("GET", "/key/header", headers={"X-API-Key": c.key_expired})
            await send("GET", "/key/header", headers={"X-API-Key": c.key_crash})
            await send("GET", "/key/query", params={"k": c.key_good})
            await send("GET", "/key/query", params={"k": c.key_bad, "api_key": c.key_bad})
            await send("GET", "/key/cookie", headers={"Cookie": f"session={c.key_good}"})
            await send("GET", "/key/cookie", headers={"Cookie": f"session={c.key_bad}"})
            for _ in range(10):
                await send("GET", "/key/header", headers={"X-API-Key": c.key_bad})
            for _ in range(3):
                await send("GET", "/limited", headers={"X-API-Key": c.key_good})

            # OAuth2: 200, 401, 403.
            await send("GET", "/oauth", headers=bearer(c.token()))
            await send("GET", "/oauth", headers=bearer(c.use(forger.mint("mallory"))))
            await send("GET", "/oauth", headers=bearer(c.token(scopes=("api:write",))))
    finally:
        telemetry.shutdown()

    spans = [json.loads(s.to_json()) for s in exporter.get_finished_spans()]
    data = reader.get_metrics_data()
    return Run(
        creds=c,
        responses=responses,
        log_lines=logs.lines,
        log_text=logs.text,
        spans=spans,
        metrics_text=data.to_json() if data is not None else "",
    )


@pytest.fixture
async def run(
    quiet_test_client: None, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Run:
    caplog.set_level(logging.DEBUG)
    result = await _scenario(Credentials())
    result.stdlib_text = "\n".join(
        f"{rec.name} {rec.levelname} {rec.getMessage()} {rec.exc_text or ''}"
        for rec in caplog.records
    )
    captured = capfd.readouterr()
    result.stdout, result.stderr = captured.out, captured.err
    return result


def _leaks(run: Run) -> list[str]:
    found = []
    for where, text in run.texts().items():
        for secret in run.creds.secrets():
            if secret in text:
                found.append(f"{where} holds a credential ({secret[:6]}…)")
    return found


# ---------------------------------------------------------------------------- the run is real


async def test_the_run_covers_every_path_it_claims(run: Run) -> None:
    # Otherwise the search below would prove nothing.
    assert run.statuses() == {200, 400, 401, 403, 415, 429, 500}
    assert len(run.spans) == len(run.responses)
    assert len(run.creds.secrets()) > 30
    ok = [r for r in run.responses if r.status_code == 200]
    assert len(ok) >= 8  # the credentials were real: every scheme kind accepted one
    kinds = {x["scheme"] for x in run.log_lines if x["msg"] == "auth failure"}
    assert kinds == {"jwt", "basic", "api_key", "oauth2"}


# ---------------------------------------------------------------------------- the search


async def test_no_credential_in_any_log_line(run: Run) -> None:
    texts = run.texts()
    leaks = [x for x in _leaks(run) if x.startswith(("app log", "stdlib", "stdout", "stderr"))]
    assert leaks == [], "\n".join(leaks)
    assert texts["app log"].count("\n") > 100  # debug and payload lines included


async def test_no_credential_in_any_response_body_or_header(run: Run) -> None:
    leaks = [x for x in _leaks(run) if x.startswith("response")]
    assert leaks == [], "\n".join(leaks)


async def test_no_credential_in_any_span_or_metric(run: Run) -> None:
    leaks = [x for x in _leaks(run) if x.startswith(("spans", "metrics"))]
    assert leaks == [], "\n".join(leaks)
    queries = [s["attributes"]["url.query"] for s in run.spans if "url.query" in s["attributes"]]
    # The design's own credential parameter ("k") is scrubbed as well as the usual names.
    assert "k=REDACTED" in queries
    assert "k=REDACTED&api_key=REDACTED" in queries


async def test_auth_failures_are_counted_by_scheme_and_reason_only(run: Run) -> None:
    data = json.loads(run.metrics_text)
    points = [
        p["attributes"]
        for rm in data["resource_metrics"]
        for sm in rm["scope_metrics"]
        for m in sm["metrics"]
        if m["name"] == "bastion.auth.failures"
        for p in m["data"]["data_points"]
    ]
    assert {"scheme": "jwt", "reason": "expired"} in points
    assert {"scheme": "api_key", "reason": "locked_out"} in points
    assert all(set(p) == {"scheme", "reason"} for p in points)


async def test_nothing_anywhere_holds_a_credential(run: Run) -> None:
    leaks = _leaks(run)
    assert leaks == [], "\n".join(leaks)


# ---------------------------------------------------------------------------- what is there


async def test_auth_failure_lines_are_written_with_scheme_method_and_reason(run: Run) -> None:
    failures = [x for x in run.log_lines if x["msg"] == "auth failure"]
    seen = {(x["scheme"], f'{x["service"]}.{x["method"]}', x["reason"]) for x in failures}
    for expected in [
        ("jwt", "vault.read", "missing"),
        ("jwt", "vault.read", "expired"),
        ("jwt", "vault.read", "invalid"),
        ("jwt", "vault.read", "insufficient_scope"),
        ("jwt", "vault.write", "insufficient_scope"),
        ("basic", "vault.login", "invalid"),
        ("api_key", "vault.by_header", "expired"),
        ("api_key", "vault.by_header", "invalid"),
        ("api_key", "vault.by_header", "locked_out"),
        ("api_key", "vault.by_query", "invalid"),
        ("api_key", "vault.by_cookie", "invalid"),
        ("api_key", "vault.limited", "rate_limited"),
        ("oauth2", "vault.oauth", "invalid"),
        ("oauth2", "vault.oauth", "insufficient_scope"),
    ]:
        assert expected in seen, expected
    for line in failures:
        assert line["level"] == "warn"
        assert line["client.address"] == "127.0.0.1"
        assert line["request_id"]
        secrets_ = run.creds.secrets()
        assert not any(s in json.dumps(line) for s in secrets_)


async def test_payload_debug_lines_show_credentials_redacted(run: Run) -> None:
    payloads = [x for x in run.log_lines if x["msg"] == "payload"]
    assert payloads
    redacted = [x["payload"] for x in payloads if isinstance(x["payload"], dict)]
    for field_ in ("token", "key", "user", "password"):
        assert any(p.get(field_) == "REDACTED" for p in redacted), field_


async def test_request_urls_in_logs_and_spans_have_credential_parameters_redacted(
    run: Run,
) -> None:
    urls = [
        f'{x["url.path"]}?{x["url.query"]}'
        for x in run.log_lines
        if x["msg"] == "start" and "url.query" in x
    ]
    assert "/key/query?k=REDACTED" in urls
    assert any("api_key=REDACTED" in u for u in urls)
    assert any(u.startswith("/jwt?token=REDACTED") for u in urls)


async def test_internal_errors_are_logged_with_their_id_and_no_detail_in_the_body(
    run: Run,
) -> None:
    errors = [r for r in run.responses if r.status_code == 500]
    assert len(errors) == 2
    lines = {x["error.id"]: x for x in run.log_lines if x["msg"] == "unexpected error"}
    for r in errors:
        body = r.json()
        assert body["name"] == "internal"
        assert body["id"] in lines
        assert "corrupt" not in r.text and "database" not in r.text


# ---------------------------------------------------------------------------- Redis


@pytest.mark.integration
async def test_redis_password_never_leaves_the_process(
    redis: RedisServer,
    quiet_test_client: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import redis as redis_client

    password = "redis-" + secrets.token_urlsafe(24)
    admin = redis_client.Redis.from_url(redis.url)
    admin.config_set("requirepass", password)
    admin.close()
    url = f"redis://:{password}@127.0.0.1:{redis.port}/0"

    creds = Credentials()
    logs = LogCapture(level="info")
    caplog.set_level(logging.DEBUG)
    app = bastion.App(vault_design(), {"vault": Vault(creds)}, limiter=RateLimiter(url),
                      logger=logs.logger)
    responses = []
    headers = {"X-API-Key": creds.key_good}
    async with TestClient(app) as client:
        with anyio.fail_after(10):  # a dead Redis must not hang a request
            for _ in range(3):
                responses.append(await client.get("/limited", headers=headers))
            redis.stop()
            for _ in range(2):
                responses.append(await client.get("/limited", headers=headers))
    # Redis down: the limiter counts in this process, so the valid key passes again.
    assert [r.status_code for r in responses] == [200, 200, 429, 200, 200]
    outage = [x for x in logs.text.splitlines() if "is unavailable" in x]
    assert len(outage) == 1
    assert f"redis://REDACTED:REDACTED@127.0.0.1:{redis.port}/0" in outage[0]
    captured = capfd.readouterr()
    everything = [logs.text, caplog.text, captured.out, captured.err,
                  *(r.text for r in responses), *(str(r.headers) for r in responses)]
    for text in everything:
        assert password not in text
        assert quote(password, safe="") not in text
