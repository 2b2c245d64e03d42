"""`bastion.deadline()` and `bastion.cancelled()` inside HTTP methods, on a real server.

One process serves `tests/server/lifetime_app.py` with `WRITE_TIMEOUT=2s` and `THREADS=1`;
its methods write what they saw as log lines, read back from the process's output.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.lifetime_app import KEY
from tests.server.support import Running, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

WRITE_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    env = {"WRITE_TIMEOUT": f"{WRITE_TIMEOUT:g}s", "THREADS": "1", "ADMIN_ADDR": "",
           "LOG_FORMAT": "json"}
    with running_server(tmp_path_factory.mktemp("lifetime"), env,
                        app_ref="tests.server.lifetime_app:app") as running:
        yield running


def _get(server: Running, path: str, **headers: str) -> httpx.Response:
    # Longer than WRITE_TIMEOUT: the server, not the client, ends a slow request.
    return httpx.get(f"http://127.0.0.1:{server.port}{path}", headers=headers, timeout=30)


def _line(server: Running, msg: str, request_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def written() -> bool:
        for raw in server.log.splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if line.get("msg") == msg and line.get("request_id") == request_id:
                    found.append(line)
                    return True
        return False

    wait_until(written, timeout=40)
    return found[0]


def test_a_method_sees_its_request_deadline(server: Running) -> None:
    before = time.monotonic()
    r = _get(server, "/deadline")
    after = time.monotonic()
    assert r.status_code == 200, r.text
    body = r.json()
    # The deadline is WRITE_TIMEOUT from the request's head, which the server read between
    # `before` and `after`, on the system's one monotonic clock.
    assert before + WRITE_TIMEOUT <= body["deadline"] <= after + WRITE_TIMEOUT
    assert 0 < body["remaining"] <= WRITE_TIMEOUT


def test_a_sync_method_sees_cancelled_once_the_client_got_its_503(server: Running) -> None:
    r = _get(server, "/sync-wait")
    assert r.status_code == 503
    body = r.json()
    assert (body["name"], body["timeout"], body["temporary"]) == ("timeout", True, True)
    line = _line(server, "sync method stopped", r.headers["x-request-id"])
    # The thread went on until `cancelled()` turned true, which it did at the deadline.
    assert line["cancelled"] is True
    assert line["past_deadline"] is True


def test_an_async_method_is_cancelled_at_write_timeout(server: Running) -> None:
    r = _get(server, "/async-wait")
    assert r.status_code == 503
    rid = r.headers["x-request-id"]
    line = _line(server, "async method cancelled", rid)
    assert line["cancelled"] is True  # what `bastion.cancelled()` said inside the task
    ran_on = [json.loads(x) for x in server.log.splitlines()
              if '"async method ran to its end"' in x]
    assert all(x.get("request_id") != rid for x in ran_on)


def test_auth_handlers_and_methods_share_the_apps_one_thread_pool(server: Running) -> None:
    r = _get(server, "/threads", **{"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    seen = r.json()
    plain = _get(server, "/deadline").json()["thread"]
    # THREADS=1: one thread, the App's, runs the sync handler and every sync method.
    assert seen["handler_thread"] == seen["method_thread"] == plain
    assert plain.startswith("bastion")
