"""A failure response never hides a committed order: WRITE_TIMEOUT, SIGTERM, waiting threads.

The example's `create` screens each order with an upstream, then inserts it and commits
through `bastion.committing()`. The upstream here sleeps as long as the order's customer
says (`sleep-1.2@example.com`), so a test decides which requests outlive their deadline.
After the storm, the database holds exactly the orders whose clients were told 201.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.examples.test_orders_e2e import ORDER, WRITE
from tests.support.orders import demo
from tests.support.upstream import slow_upstream

pytestmark = pytest.mark.integration


def _order(sleep: float) -> dict[str, object]:
    return {**ORDER, "customer": f"sleep-{sleep}@example.com"}


def _committed(tmp_path: Path) -> set[str]:
    with sqlite3.connect(tmp_path / "orders.db") as db:
        return {row[0] for row in db.execute("SELECT id FROM orders")}


async def _storm(api: str, sleeps: list[float]) -> list[httpx.Response]:
    return await _storm_as(api, [str(_order(s)["customer"]) for s in sleeps])


async def _storm_as(api: str, customers: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(customers) + 5, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=30) as client:
        return list(await asyncio.gather(*(
            client.post("/orders", json={**ORDER, "customer": c},
                        headers={**WRITE, "X-Request-ID": f"r{i}"})
            for i, c in enumerate(customers)
        )))


def _assert_split(responses: list[httpx.Response], late_error: str) -> None:
    # Every slow order is refused; the fast ones are answered 201, save one a loaded machine
    # made late too (what matters is that the database agrees with what each client heard).
    for late in responses[1::2]:
        assert late.status_code == 503, late.text
        assert late.json()["name"] == late_error and late.json()["temporary"] is True
    fast = [r.status_code for r in responses[0::2]]
    assert set(fast) <= {201, 503} and fast.count(201) >= 5, fast


def _lines(output: str) -> list[dict[str, object]]:
    # Every line the process wrote is one of its logger's JSON lines.
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_a_503_at_write_timeout_never_hides_a_committed_order(tmp_path: Path) -> None:
    # Half the clients outlive WRITE_TIMEOUT=800ms by far, the others are well within it.
    sleeps = [0.05, 1.5] * 10
    with slow_upstream() as upstream, demo(
        tmp_path, WRITE_TIMEOUT="800ms", UPSTREAM_URL=upstream
    ) as d:
        responses = asyncio.run(_storm(d.api, sleeps))
        _assert_split(responses, "timeout")
        told_created = {r.json()["id"] for r in responses if r.status_code == 201}
        # The late threads are still screening: once they are done, they must not have
        # committed anything.
        time.sleep(max(sleeps) + 1.0)
        assert _committed(tmp_path) == told_created
        output = d.output()
    lines = _lines(output)
    cancelled = {x["request_id"] for x in lines
                 if str(x.get("msg", "")).startswith("request cancelled")}
    refused = {f"r{i}" for i, r in enumerate(responses) if r.status_code == 503}
    assert cancelled == refused


def test_a_503_during_shutdown_never_hides_a_committed_order(tmp_path: Path) -> None:
    # The held orders outlive the drain (800 ms): the upstream holds their screening until
    # their clients have been answered 503, then lets them go, within the wait for their
    # threads that follows the drain (another 800 ms at most): the threads finish, and
    # log, before the end. Holding, not sleeping, keeps the order of events whatever the
    # machine's load.
    customers = [str(ORDER["customer"]), "hold@example.com"] * 10
    with slow_upstream() as upstream, demo(
        tmp_path, SHUTDOWN_TIMEOUT="800ms", WRITE_TIMEOUT="60s", UPSTREAM_URL=upstream
    ) as d:

        async def storm_then_sigterm() -> list[httpx.Response]:
            calls = asyncio.ensure_future(_storm_as(d.api, customers))
            while upstream_calls(upstream) < len(customers):
                await asyncio.sleep(0.02)
            d.process.send_signal(signal.SIGTERM)
            answered = await calls
            httpx.post(f"{upstream}/release", timeout=5)
            return answered

        responses = asyncio.run(storm_then_sigterm())
        assert d.process.wait(timeout=20) == 0
        output = d.output()
    _assert_split(responses, "unavailable")
    told_created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert _committed(tmp_path) == told_created
    lines = _lines(output)  # nothing unformatted, even from threads that ran on
    last = max(i for i, x in enumerate(lines) if x.get("msg") == "shutdown complete")
    assert last == len(lines) - 1  # the threads finished, and wrote, before it
    assert not any(x.get("msg") == "threads still running at shutdown" for x in lines)


def test_a_request_cancelled_while_waiting_for_a_thread_never_runs(tmp_path: Path) -> None:
    with slow_upstream() as upstream, demo(
        tmp_path, THREADS="1", WRITE_TIMEOUT="500ms", UPSTREAM_URL=upstream
    ) as d:

        async def both() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=d.api, timeout=30) as client:
                first = asyncio.ensure_future(client.post(
                    "/orders", json=_order(1.5), headers={**WRITE, "X-Request-ID": "holder"}))
                while upstream_calls(upstream) < 1:
                    await asyncio.sleep(0.01)
                second = await client.post(
                    "/orders", json=_order(0.0), headers={**WRITE, "X-Request-ID": "waiter"})
                return [await first, second]

        holder, waiter = asyncio.run(both())
        assert (holder.status_code, waiter.status_code) == (503, 503)
        time.sleep(2.0)  # the holder's thread ends; the waiter's call must not start then
        assert upstream_calls(upstream) == 1
        assert _committed(tmp_path) == set()
        output = d.output()
    creating = [x for x in _lines(output) if x.get("msg") == "creating order"]
    assert [x["request_id"] for x in creating] == ["holder"]


def upstream_calls(url: str) -> int:
    """How many screening calls the fake upstream has received."""
    return int(httpx.get(f"{url}/calls", timeout=5).text)


def test_the_upstream_fake_counts_and_sleeps() -> None:
    with slow_upstream() as url:
        start = time.monotonic()
        answer = httpx.post(f"{url}/check", json={"customer": "sleep-0.2@x"}, timeout=5)
        assert answer.status_code == 200 and time.monotonic() - start >= 0.2
        assert upstream_calls(url) == 1
        other = httpx.post(f"{url}/check", json={"customer": f"{uuid.uuid4()}"}, timeout=5)
        assert other.status_code == 200
        assert upstream_calls(url) == 2
