"""Generated clients against `bastion serve`: every place a value travels, every scheme.

The wire design maps attributes to a path segment, a `{*rest}` wildcard, the query, a
header, a cookie and the body; its service echoes what it decoded, so a value that the
client encodes differently from how the server decodes it comes back changed. The
things design has one method per kind of security scheme.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.client_wire import DEMO_KEY
from tests.support.every_scheme import DEMO_KEY as THINGS_KEY
from tests.support.every_scheme import DEMO_PASSWORD, DEMO_TOKEN, DEMO_USER
from tests.support.served import Served, bastion_serve

pytestmark = pytest.mark.integration


def _wait_for_end(served: Served, request_id: str | None) -> list[dict[str, Any]]:
    """Every end line so far, once the one of `request_id` is written (requests are serial)."""
    deadline = time.monotonic() + 10
    while True:
        ends = []
        for line in served.output().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("msg") == "end":
                    ends.append(entry)
        if any(e.get("request_id") == request_id for e in ends):
            return ends
        if time.monotonic() > deadline:
            raise AssertionError(f"no end line for {request_id}:\n{served.output()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`bastion serve tests.support.client_wire:app`."""
    with bastion_serve("tests.support.client_wire:app",
                       tmp_path_factory.mktemp("wire")) as served:
        yield served


def test_every_mapped_value_reaches_the_server_as_sent(wire: Served, wc: Any) -> None:
    with wc.Client(wire.url, auth=[wc.QueryKeyAuth(DEMO_KEY)]) as client:
        echoed = client.wire.echo(
            id="a/b c?#%", rest="dir/sub dir/file.txt", tags=["x", "y z", "&"], flag=False,
            count=3, langs=["en", "fr"], session="s-1", note="héllo", amount=1.5)
    assert echoed == wc.WireEchoResult(
        id="a/b c?#%", rest="dir/sub dir/file.txt", tags=["x", "y z", "&"], flag=False,
        count=3, langs=["en", "fr"], session="s-1", note="héllo", amount=1.5, level="low",
        total=42)  # `total` came back in the X-Total header


def test_a_body_attribute_and_a_header_make_the_result(wire: Served, wc: Any) -> None:
    item = wc.Item(name="box", size=3, created_at="2024-05-01T10:00:00Z")
    with wc.Client(wire.url) as client:
        stored = client.wire.put(id=7, item=item)
        assert stored == wc.WirePutResult(item=item, version=70)
        assert client.wire.forget(id=7) is None  # 204: no result


async def test_the_async_client_reads_the_same_wire(wire: Served, wc: Any) -> None:
    async with wc.AsyncClient(wire.url, auth=[wc.QueryKeyAuth(DEMO_KEY)]) as client:
        echoed = await client.wire.echo(id="1", rest="r", amount=0.25, flag=True)
        assert (echoed.id, echoed.rest, echoed.flag, echoed.amount) == ("1", "r", True, 0.25)


def test_invalid_values_are_named_where_they_were_sent(wire: Served, wc: Any) -> None:
    with wc.Client(wire.url, auth=[wc.QueryKeyAuth(DEMO_KEY)]) as client, \
            pytest.raises(wc.BadRequest) as caught:
        client.wire.echo(id="x", rest="y", amount=1.0, count=-1, note="n" * 21)
    assert sorted((e.field, e.where) for e in caught.value.errors) == [
        ("X-Count", "header"), ("note", "body")]


def test_a_temporary_design_error_of_an_idempotent_method_is_retried(
    wire: Served, wc: Any
) -> None:
    retry = wc.Retry(attempts=3, backoff=0.01, max_backoff=0.02)
    with wc.Client(wire.url, retry=retry) as client, pytest.raises(wc.BusyError) as caught:
        client.wire.forget(id=13)
    err = caught.value
    assert (err.status, err.name, err.temporary) == (503, "busy", True)
    assert err.declared_temporary is True
    # Three requests reached the server; the last one's end line bears the error's id.
    ends = _wait_for_end(wire, err.request_id)
    assert [e["http.response.status_code"] for e in ends if e["url.path"] == "/items/13"] == [
        503, 503, 503]


def test_every_scheme_is_placed_where_the_design_reads_it(tmp_path: Path,
                                                         clients: dict[str, Any]) -> None:
    tc = clients["things"]
    auth = [tc.BasicAuth(DEMO_USER, DEMO_PASSWORD), tc.ApiKeyAuth(THINGS_KEY),
            tc.JwtAuth(DEMO_TOKEN), tc.OauthAuth(lambda: DEMO_TOKEN)]
    with bastion_serve("tests.support.every_scheme:app", tmp_path) as served, \
            tc.Client(served.url, auth=auth) as client:
        assert client.things.by_basic().subject == DEMO_USER
        assert client.things.by_key().subject == "key-holder"
        assert client.things.by_jwt().subject == "bearer"
        assert client.things.by_oauth().subject == "bearer"
        with tc.Client(served.url, auth=[tc.BasicAuth(DEMO_USER, "wrong")]) as wrong, \
                pytest.raises(tc.Unauthorized) as caught:
            wrong.things.by_basic()
        assert caught.value.www_authenticate is not None
        assert caught.value.www_authenticate.startswith("Basic")
