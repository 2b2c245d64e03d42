"""Two instances behind a real load balancer: what a fleet must keep of one process.

A fleet (tests/support/fleet.py) is two `python -m examples.orders` processes on ports
of their own, behind haproxy on 127.0.0.1 (health checks on each instance's `/readyz`),
with one `redis-server` (REDIS_URL), one SQLite database, one OTLP receiver and, for the
telemetry, a Prometheus scraping both admin ports. Each test starts its own, but for two
that share one (they use disjoint keys and routes).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fleet import Fleet, Load, LoadResult, Restart, Shot, fleet
from tests.support.otlp import ReceivedSpan

pytestmark = pytest.mark.integration

ORDER = {"amount": 12.5, "type": "retail", "customer": "ada@example.com"}


def within_one_window(seconds: float = 3.0) -> None:
    """Wait, if need be, so that the next `seconds` fall inside one clock minute.

    Minute limits count in windows aligned on the clock (the sliding-window counter
    keeps this minute's hits and a decaying share of the last one's). Hits that straddle
    a boundary are weighed a little under their number, so the N+1st could pass: an
    exact count needs all its hits inside one window.
    """
    left = 60.0 - time.time() % 60.0
    if left < seconds:
        time.sleep(left + 0.05)


@pytest.fixture(scope="module")
def observed_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A fleet scraped by Prometheus, its API keys limited to 600 requests a minute.

    Shared by two tests that use disjoint parts of it: the API-key limit (`GET /orders`
    with keys) and the telemetry (`GET /ping`, which is public, and its spans).
    """
    env = {"RATE_LIMITS": "api_key=600/minute"}
    with fleet(tmp_path_factory.mktemp("observed"), env=env, prometheus=True) as f:
        yield f


def test_an_api_key_limit_is_one_budget_for_the_whole_fleet(observed_fleet: Fleet) -> None:
    f = observed_fleet
    key, other = f.api_keys["client-1"], f.api_keys["client-2"]
    with httpx.Client(timeout=10) as c:
        within_one_window(seconds=40)
        answers = [c.get(f.balancer.url + "/orders", headers={"X-API-Key": key})
                   for _ in range(600)]
        assert [r.status_code for r in answers] == [200] * 600
        # Round robin: both instances served the key, and counted into one budget.
        assert {r.headers["x-served-by"] for r in answers} == {"orders-1", "orders-2"}
        assert [int(r.headers["ratelimit-remaining"]) for r in answers] == list(range(599, -1, -1))
        assert {r.headers["ratelimit-limit"] for r in answers} == {"600"}

        # The 601st is refused whichever instance gets it: each one directly, and both
        # through the balancer.
        for instance in f.instances:
            refused = c.get(instance.api + "/orders", headers={"X-API-Key": key})
            assert refused.status_code == 429, (instance.name, refused.text)
            assert refused.json()["name"] == "too_many_requests"
            assert 0 < int(refused.headers["retry-after"]) <= 60
            assert refused.headers["ratelimit-remaining"] == "0"
        through = [c.get(f.balancer.url + "/orders", headers={"X-API-Key": key})
                   for _ in range(2)]
        assert [r.status_code for r in through] == [429, 429]
        assert {r.headers["x-served-by"] for r in through} == {"orders-1", "orders-2"}

        # The budget is the key's: another client's key still passes on both.
        for instance in f.instances:
            assert c.get(instance.api + "/orders", headers={"X-API-Key": other}).status_code == 200


def test_both_instances_traces_and_metrics_arrive(observed_fleet: Fleet) -> None:
    f = observed_fleet
    sent: dict[str, tuple[str, str]] = {}  # trace id -> (parent span id, instance)
    with httpx.Client(base_url=f.balancer.url, timeout=10) as c:
        for _ in range(20):
            trace, parent = secrets.token_hex(16), secrets.token_hex(8)
            r = c.get("/ping", headers={"traceparent": f"00-{trace}-{parent}-01"})
            assert r.status_code == 200
            sent[trace] = (parent, r.headers["x-served-by"])
    served = Counter(instance for _, instance in sent.values())
    assert set(served) == {"orders-1", "orders-2"}

    def pings(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return [s for s in spans if s.name == "GET /ping" and s.trace_id in sent]

    spans = pings(f.otlp.wait_for_spans(lambda spans: len(pings(spans)) >= len(sent)))
    assert len(spans) == len(sent)
    pids = {x.name: x.pid for x in f.instances}
    for span in spans:
        parent, instance = sent[span.trace_id]
        assert span.kind == "SERVER" and span.parent_span_id == parent
        # The resource tells the instances apart: the id the operator gave each one
        # (OTEL_RESOURCE_ATTRIBUTES), and the process id the SDK reads itself.
        assert span.resource["service.instance.id"] == instance
        assert span.resource["process.pid"] == pids[instance]
        assert span.resource["service.name"] == "orders"
        assert span.resource["host.name"]

    # Prometheus scraped both admin ports: per instance, and summed, the counts are the
    # requests each one served.
    assert f.prometheus is not None
    admin = {f"127.0.0.1:{x.admin_port}": x.name for x in f.instances}
    query = 'sum by (instance) (http_server_request_duration_seconds_count{http_route="/ping"})'
    per_instance = f.prometheus.wait_for(query, lambda result: {
        admin[r["metric"]["instance"]]: int(float(r["value"][1])) for r in result} == served)
    assert len(per_instance) == 2
    total = f.prometheus.query(
        'sum(http_server_request_duration_seconds_count{http_route="/ping"})')
    assert int(float(total[0]["value"][1])) == len(sent)
    up = f.prometheus.query("up")
    assert sorted((r["metric"]["instance"], r["value"][1]) for r in up) == sorted(
        (address, "1") for address in admin)
    info = f.prometheus.query("target_info")
    assert {r["metric"]["service_instance_id"] for r in info} == {"orders-1", "orders-2"}


@pytest.fixture
def lockout_fleet(tmp_path: Path) -> Iterator[Fleet]:
    env = {"AUTH_FAILURES_PER_CLIENT": "6/minute", "AUTH_FAILURES_PER_CREDENTIAL": "3/minute"}
    with fleet(tmp_path, env=env) as f:
        yield f


def test_a_brute_force_lockout_holds_on_every_instance(lockout_fleet: Fleet) -> None:
    f = lockout_fleet
    one, two = f.instances
    valid = f.api_keys["client-1"]
    with httpx.Client(timeout=10) as c:

        def status(instance_api: str, key: str) -> int:
            return c.get(instance_api + "/orders", headers={"X-API-Key": key}).status_code

        within_one_window()
        # One guessed key, tried on both instances: its third failure locks it out on
        # both (per credential, 3/minute); a locked-out attempt is refused unverified.
        guess = secrets.token_urlsafe(32)
        assert [status(one.api, guess), status(two.api, guess), status(one.api, guess)] == [
            401, 401, 401]
        assert [status(two.api, guess), status(one.api, guess)] == [429, 429]
        # The client has 3 failures of its 6: its valid key still passes everywhere.
        assert [status(one.api, valid), status(two.api, valid)] == [200, 200]

        # Three more guesses, different keys, split over the instances: the client's
        # sixth failure locks it out (per client, 6/minute), its valid key too, on both.
        assert [status(two.api, secrets.token_urlsafe(32)),
                status(one.api, secrets.token_urlsafe(32)),
                status(two.api, secrets.token_urlsafe(32))] == [401, 401, 401]
        assert [status(one.api, valid), status(two.api, valid)] == [429, 429]
        assert status(f.balancer.url, valid) == 429
        assert status(f.balancer.url, valid) == 429

    # Each instance logged its own refusals with the reason, never the key.
    for instance in f.instances:
        instance.running.wait_for_line(lambda x: x.get("reason") == "locked_out")
        lines = [x for x in instance.running.lines() if x.get("msg") == "auth failure"]
        assert {x["reason"] for x in lines} == {"invalid", "locked_out"}, instance.name
        assert guess not in instance.running.output() and valid not in instance.running.output()


def load_shots(f: Fleet) -> list[Shot]:
    """The steady load: a public ping, a JWT read and a JWT write (one SQLite for all)."""
    read = {"Authorization": f"Bearer {f.token(['orders:read'])}"}
    write = {"Authorization": f"Bearer {f.token(['orders:write'])}"}
    return [Shot("GET", "/ping", 200), Shot("GET", "/orders", 200, read),
            Shot("POST", "/orders", 201, write, ORDER)]


def describe(result: LoadResult, restarts: list[Restart]) -> str:
    """One line of what was measured, for the test's output and its failure message."""
    return (f"sent={result.sent} failed={len(result.failures)} in {result.seconds:.1f}s; "
            + "; ".join(f"{r.instance}: out of rotation {r.out_of_rotation:.2f}s, exited "
                        f"{r.exited:.2f}s, ready {r.ready:.2f}s, back in rotation "
                        f"{r.back_in_rotation:.2f}s" for r in restarts))


def test_a_rolling_restart_under_load_fails_no_request(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    # retries=0: haproxy never retries a refused connection nor sends it elsewhere, so
    # no request is saved by the balancer; SHUTDOWN_DELAY (1s) against its checks (every
    # 150ms, out after 2 failures) is what keeps traffic off a closing listener.
    with fleet(tmp_path, retries=0) as f:
        old_pids = [x.pid for x in f.instances]
        with Load(f.balancer.url, load_shots(f)) as load:
            load.wait_for(100)
            restarts = [f.restart(0), f.restart(1)]
            load.wait_for(100)
        result = load.result
        stats = f.balancer.stats()
        frontend = f.balancer.frontend_stats()
        summary = describe(result, restarts)
        record_property("rolling_restart", summary)
        print(summary)

        assert result.failures == [], summary
        assert [r.exit_status for r in restarts] == [0, 0]
        assert [x.pid for x in f.instances] != old_pids
        # haproxy answered every request from an instance: it had stopped routing to each
        # instance before that instance stopped accepting, and routed to it again only
        # once it was listening.
        assert int(frontend["req_tot"]) == result.sent
        assert int(frontend["hrsp_5xx"]) == 0
        for name in ("orders-1", "orders-2"):
            row = stats[name]
            assert (row["econ"], row["eresp"]) == ("0", "0"), (name, row)
            assert int(row["chkdown"]) == 1, (name, row)  # down once: its restart
        # Every instance served before and after its restart, and drained in between.
        for instance in f.instances:
            before, after = instance.previous[0], instance.running
            assert any(x.get("msg") == "end" for x in before.lines()), instance.name
            assert any(x.get("msg") == "end" for x in after.lines()), instance.name
            assert any(x.get("msg") == "listener closed; draining" for x in before.lines())
        # Every order answered 201 is in the fleet's database, and no other.
        created = sum(n for (method, _, status), n in result.answers.items()
                      if method == "POST" and status == "201")
        with sqlite3.connect(tmp_path / "orders.db") as db:
            assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == created


def test_without_a_shutdown_delay_the_balancer_routes_to_a_closed_listener(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    # The control: the same stop with SHUTDOWN_DELAY=0. The listener closes at the
    # SIGTERM, before haproxy's checks have seen /readyz turn 503, and a balancer that
    # does not retry answers the requests it still sends there with 503.
    with fleet(tmp_path, retries=0, env={"SHUTDOWN_DELAY": "0s"}) as f:
        one = f.instances[0]
        with Load(f.balancer.url, load_shots(f)) as load:
            load.wait_for(100)
            start = time.monotonic()
            one.terminate()
            down = f.balancer.wait_for_status(one.name, "DOWN") - start
            assert one.wait() == 0
            load.wait_for(50)
        result = load.result
        summary = (f"sent={result.sent} failed={len(result.failures)} in "
                   f"{result.seconds:.1f}s; {one.name} out of rotation {down:.2f}s after "
                   "its SIGTERM")
        record_property("stop_without_delay", summary)
        print(summary)
        assert result.failures, summary
        # Each one is a request haproxy sent to orders-1 as it stopped: mostly refused
        # connections (503, `SC--`); now and then one sent on a kept-alive connection
        # in the instant orders-1 closed it as idle (`SD--`), which haproxy answers by
        # closing the client's connection (so that a client may retry) or with a 502.
        kinds = {status for _, _, status, _ in result.failures}
        assert "503" in kinds and kinds <= {"502", "503", "RemoteProtocolError"}, kinds
        errors = [x for x in f.balancer.requests() if x["status"] >= 500 or x["status"] < 0]
        # Every answered failure is in haproxy's log; a closed connection may also be a
        # kept-alive client connection haproxy itself closed as idle, which it does not log.
        answered = [x for x in result.failures if x[2] != "RemoteProtocolError"]
        assert len(answered) <= len(errors) <= len(result.failures), (errors, result.failures)
        assert {x["server"] for x in errors} == {"orders-1"}
        assert {x["state"] for x in errors} <= {"SC--", "SD--", "SH--"}


@pytest.fixture
def proxied_fleet(tmp_path: Path) -> Iterator[Fleet]:
    # The balancer connects from 127.0.0.1: the instances trust what it forwards.
    env = {"AUTH_FAILURES_PER_CLIENT": "3/minute", "AUTH_FAILURES_PER_CREDENTIAL": "",
           "TRUSTED_PROXIES": "127.0.0.1/32"}
    with fleet(tmp_path, env=env) as f:
        yield f


def test_guesses_through_the_balancer_lock_out_their_client_only(proxied_fleet: Fleet) -> None:
    # haproxy appends the address it was connected from (127.0.0.1, trusted) to the
    # X-Forwarded-For the client sent: the test plays an outer proxy (a CDN) that named
    # two clients, an attacker and a customer of the same API.
    f = proxied_fleet
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    customer = {"X-Forwarded-For": "198.51.100.7", "X-API-Key": f.api_keys["client-1"]}
    with httpx.Client(base_url=f.balancer.url, timeout=10) as c:
        within_one_window()
        guesses = [c.get("/orders", headers={**attacker, "X-API-Key": secrets.token_urlsafe(32)})
                   for _ in range(3)]
        assert [r.status_code for r in guesses] == [401, 401, 401]
        # The request log names the attacker: trusted_proxies works there.
        by_name = {x.name: x.running for x in f.instances}
        ends = [by_name[r.headers["x-served-by"]].end_line(r.headers["x-request-id"])
                for r in guesses]
        assert {x["client.address"] for x in ends} == {"203.0.113.9"}
        # The attacker is locked out; the customer behind the same balancer is not.
        locked = c.get("/orders", headers={**attacker, "X-API-Key": f.api_keys["client-2"]})
        assert locked.status_code == 429
        assert c.get("/orders", headers=customer).status_code == 200
    failures = [x for instance in f.instances for x in instance.running.lines()
                if x.get("msg") == "auth failure"]
    assert {x["client.address"] for x in failures} == {"203.0.113.9"}
