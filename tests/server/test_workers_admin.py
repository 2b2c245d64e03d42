"""WORKERS=2 on the orders example: the admin port speaks for the whole fleet.

A real process tree (the supervisor and two spawned workers) on 127.0.0.1: the debug
switch reaches every worker and a replacement inherits it, `/metrics` is every worker's
exposition labelled by worker, and pprof answers for the worker it names.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.orders import Orders, metric_count, orders_example

pytestmark = pytest.mark.integration

COUNT = "http_server_request_duration_seconds_count"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orders]:
    folder = tmp_path_factory.mktemp("fleet")
    with orders_example(folder, {"WORKERS": "2", "SHUTDOWN_TIMEOUT": "5s"}) as running:
        _wait_for(lambda: len(_worker_pids(running)) == 2 and _ready(running))
        yield running


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def _worker_pids(fleet: Orders) -> dict[int, int]:
    """Worker index to pid, from the supervisor's latest `worker started` line for each."""
    pids: dict[int, int] = {}
    for line in fleet.output().splitlines():
        if '"worker started"' in line:
            record = json.loads(line)
            pids[record["worker"]] = record["pid"]
    return pids


def _admin(fleet: Orders, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{fleet.admin_port}{path}", params=params, timeout=30)


def _ready(fleet: Orders) -> bool:
    try:
        return _admin(fleet, "/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def test_the_debug_switch_reaches_every_worker_and_a_replacement(fleet: Orders) -> None:
    switched = _admin(fleet, "/debug", **{"debug-logs": "on"})
    assert switched.status_code == 200
    assert switched.json() == {"debug-logs": "on"}
    assert switched.headers["x-bastion-workers"] == "2"
    for _ in range(10):  # each worker, asked on its own, many times
        for index in ("0", "1"):
            answer = _admin(fleet, "/debug", worker=index)
            assert answer.json() == {"debug-logs": "on"}, index
            assert answer.headers["x-bastion-worker"] == index

    # A worker that dies comes back with the fleet's setting, not its own default.
    victim = _worker_pids(fleet)[1]
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: _worker_pids(fleet).get(1) not in (None, victim) and _ready(fleet))
    _wait_for(lambda: _admin(fleet, "/debug", worker="1").json() == {"debug-logs": "on"})

    assert _admin(fleet, "/debug", **{"debug-logs": "off"}).json() == {"debug-logs": "off"}
    for index in ("0", "1"):
        assert _admin(fleet, "/debug", worker=index).json() == {"debug-logs": "off"}


def test_metrics_are_every_workers_labelled_by_worker(fleet: Orders) -> None:
    labels = {"http_route": "/ping", "http_request_method": "GET"}
    before = metric_count(fleet.metrics(), COUNT, **labels)
    served = 40
    for _ in range(served):  # a new connection each: the kernel hands them to both workers
        with httpx.Client() as client:
            assert client.get(f"http://127.0.0.1:{fleet.port}/ping", timeout=10).status_code == 200
    metrics = fleet.metrics()
    # The fleet's total is the sum over the workers' series...
    assert metric_count(metrics, COUNT, **labels) == before + served
    # ...and every series says which worker it came from.
    per_worker = {index: metric_count(metrics, COUNT, worker=index, **labels)
                  for index in ("0", "1")}
    assert sum(per_worker.values()) == before + served
    samples = [line for line in metrics.splitlines()
               if line.startswith(COUNT + "{") and 'http_route="/ping"' in line]
    assert samples and all('worker="' in line for line in samples)
    # One # TYPE per family: the merged text is one valid exposition, not two pasted.
    assert metrics.count("# TYPE http_server_request_duration_seconds histogram") == 1


def test_pprof_profiles_the_worker_it_names(fleet: Orders) -> None:
    pids = _worker_pids(fleet)
    for index in ("0", "1"):
        dump = _admin(fleet, "/debug/pprof/goroutine", worker=index, format="json")
        assert dump.status_code == 200
        assert dump.headers["x-bastion-worker"] == index
        assert dump.json()["pid"] == pids[int(index)]
    profile = _admin(fleet, "/debug/pprof/profile", worker="1", seconds="0.3", format="text")
    assert profile.status_code == 200
    assert profile.headers["x-bastion-worker"] == "1"
    assert profile.text.startswith(f"process {pids[1]}:")
    default = _admin(fleet, "/debug/pprof/goroutine", format="json")
    assert default.headers["x-bastion-worker"] == "0"  # no worker named: the first one
    unknown = _admin(fleet, "/debug/pprof/goroutine", worker="2")
    assert unknown.status_code == 404
    assert "worker must be a number from 0 to 1" in unknown.text



def test_merging_keeps_every_workers_samples() -> None:
    from bastion.server._workers import merge_expositions

    text = "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total{kind=\"a\"} 3.0\n"
    merged = merge_expositions({0: text, 1: text.replace("3.0", "4.0")})
    assert 'jobs_total{kind="a",worker="0"} 3.0' in merged
    assert 'jobs_total{kind="a",worker="1"} 4.0' in merged
    assert merged.count("# TYPE jobs_total counter") == 1
