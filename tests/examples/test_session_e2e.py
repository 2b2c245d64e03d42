"""The session example (Goa's cookies example) through a real server, against Goa's wire.

Expectations name the functions of Goa's generated `examples/cookies/gen/http/session/
server/encode_decode.go` whose behaviour they check.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.examples import Example, example

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with example("session", tmp_path_factory.mktemp("session")) as running:
        yield running


def test_create_session_sets_the_sid_cookie_and_use_session_reads_it(session: Example) -> None:
    with httpx.Client(base_url=session.api, timeout=10) as c:
        created = c.post("/", json={"name": "ada"})
        # EncodeCreateSessionResponse: http.SetCookie(SID, MaxAge 3600), 200, the body
        # without the cookie's attribute.
        assert created.status_code == 200
        assert created.json() == {"message": "new session created"}
        cookie = created.headers["set-cookie"]
        sid = cookie.split(";", 1)[0].removeprefix("SID=")
        assert cookie == f"SID={sid}; Max-Age=3600" and len(sid) == 20
        used = c.get("/", headers={"Cookie": f"SID={sid}"})
        # DecodeUseSessionRequest reads the SID cookie; EncodeUseSessionResponse: 200.
        assert used.status_code == 200 and used.json() == {"message": f'using session "{sid}"'}
    # No cookie (a new client, with an empty jar): Goa's MissingFieldError("session_id",
    # "cookie"), a 400.
    with httpx.Client(base_url=session.api, timeout=10) as c:
        bare = c.get("/")
        assert bare.status_code == 400
        assert [(e["field"], e["in"]) for e in bare.json()["errors"]] == [("SID", "cookie")]
