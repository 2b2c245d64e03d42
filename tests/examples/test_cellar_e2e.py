"""The cellar example through a real server, against what Goa's generated server answers.

Each expectation names the function of Goa's generated code (`examples/cellar/gen/http/
*/server/encode_decode.go`) whose behaviour it checks: status, headers (`Goa-View`,
`Goa-Error`), body shape. The wire differs on purpose where docs/porting-from-goa.md
says (validation errors list every field; a body not declared JSON is 415).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.examples import ROOT, Example, example

pytestmark = pytest.mark.integration

BOTTLE = {
    "name": "Blue's Cuvee",
    "winery": {"name": "Longoria", "region": "Central Coast", "country": "USA",
               "url": "http://www.longoriawine.com/"},
    "vintage": 2015,
    "composition": [{"varietal": "Syrah", "percentage": 60}, {"varietal": "Merlot"}],
    "description": "Red wine blend",
    "rating": 4,
}


@pytest.fixture(scope="module")
def cellar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with example("cellar", tmp_path_factory.mktemp("cellar")) as running:
        yield running


@pytest.fixture(scope="module")
def c(cellar: Example) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cellar.api, timeout=10) as client:
        yield client


def add(c: httpx.Client, bottle: dict[str, Any]) -> str:
    r = c.post("/storage", json=bottle)
    # EncodeAddResponse: 201, the new ID as a JSON string.
    assert r.status_code == 201, r.text
    bottle_id: str = r.json()
    return bottle_id


def test_show_renders_the_view_the_client_asks_for(c: httpx.Client) -> None:
    bottle_id = add(c, BOTTLE)
    default = c.get(f"/storage/{bottle_id}")
    tiny = c.get(f"/storage/{bottle_id}", params={"view": "tiny"})
    # EncodeShowResponse: goa-view set to the view; NewShowResponseBody renders the
    # winery in view tiny (the default view says so), NewShowResponseBodyTiny id, name
    # and winery only.
    assert default.status_code == 200 and default.headers["goa-view"] == "default"
    assert default.json() == {"id": bottle_id, "name": "Blue's Cuvee",
                              "winery": {"name": "Longoria"}, "vintage": 2015,
                              "composition": BOTTLE["composition"],
                              "description": "Red wine blend", "rating": 4}
    assert tiny.headers["goa-view"] == "tiny"
    assert tiny.json() == {"id": bottle_id, "name": "Blue's Cuvee",
                           "winery": {"name": "Longoria"}}
    # DecodeShowRequest: a view outside the enum is 400.
    assert c.get(f"/storage/{bottle_id}", params={"view": "huge"}).status_code == 400


def test_list_renders_the_collection_in_the_designs_view(c: httpx.Client) -> None:
    add(c, {**BOTTLE, "name": "Second"})
    r = c.get("/storage")
    # EncodeListResponse: 200, NewStoredBottleResponseTinyCollection, no goa-view (the
    # design fixes the view).
    assert r.status_code == 200 and "goa-view" not in r.headers
    assert all(set(b) == {"id", "name", "winery"} and b["winery"] == {"name": "Longoria"}
               for b in r.json())


def test_a_missing_bottle_is_the_not_found_type_named_by_its_message(c: httpx.Client) -> None:
    r = c.get("/storage/nope")
    # EncodeShowError, case "not_found": goa-error set, 404, NewShowNotFoundResponseBody.
    assert r.status_code == 404 and r.headers["goa-error"] == "not_found"
    assert r.json() == {"message": "not_found", "id": "nope"}


def test_rate_reads_the_query_string_as_a_map(c: httpx.Client) -> None:
    bottle_id = add(c, BOTTLE)
    # EncodeRateRequest (Goa's client) writes `?5=<id>`; DecodeRateRequest (its server)
    # reads `query[5]=<id>`: both are read. EncodeRateResponse: 200, no body.
    r = c.post(f"/storage/rate?5={bottle_id}")
    assert r.status_code == 200 and r.content == b""
    assert c.get(f"/storage/{bottle_id}").json()["rating"] == 5
    assert c.post(f"/storage/rate?query[2]={bottle_id}").status_code == 200
    assert c.get(f"/storage/{bottle_id}").json()["rating"] == 2
    # A key that is not a UInt32: InvalidFieldTypeError in Goa, 400 here too.
    assert c.post("/storage/rate?five=x").status_code == 400


def test_remove_answers_204(c: httpx.Client) -> None:
    bottle_id = add(c, BOTTLE)
    # EncodeRemoveResponse: 204, no body (removing a missing bottle too, as Goa's does).
    assert c.delete(f"/storage/{bottle_id}").status_code == 204
    assert c.delete(f"/storage/{bottle_id}").status_code == 204
    assert c.get(f"/storage/{bottle_id}").status_code == 404


def test_pick_errors_are_json_strings_with_goa_error(c: httpx.Client) -> None:
    add(c, BOTTLE)
    none = c.post("/sommelier", json={})
    # EncodePickError, "no_criteria": goa-error, 400, the String itself as the body.
    assert none.status_code == 400 and none.headers["goa-error"] == "no_criteria"
    assert none.json() == "must specify a name or one or more varietals or a winery"
    miss = c.post("/sommelier", json={"name": "Nothing Like It"})
    assert miss.status_code == 404 and miss.headers["goa-error"] == "no_match"
    assert isinstance(miss.json(), str)
    found = c.post("/sommelier", json={"varietal": ["merlot"]})
    # EncodePickResponse: NewStoredBottleResponseCollection (view default, no goa-view).
    assert found.status_code == 200 and "goa-view" not in found.headers
    assert found.json() and all(b["winery"] == {"name": "Longoria"} for b in found.json())


def test_add_validates_the_bottle_and_refuses_a_missing_body(cellar: Example) -> None:
    # DecodeAddRequest: io.EOF is goa.MissingPayloadError (400 missing_payload).
    status, _, body = cellar.raw(b"POST /storage HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
    assert status == 400 and json.loads(body)["name"] == "missing_payload"
    bad = {**BOTTLE, "vintage": 1800, "rating": 9}
    with httpx.Client(base_url=cellar.api, timeout=10) as c:
        r = c.post("/storage", json=bad)
    # ValidateAddRequestBody stops at the first error in Goa; Bastion names both.
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} == {"vintage", "rating"}


def test_the_swagger_file_is_the_designs_document(c: httpx.Client) -> None:
    r = c.get("/swagger/swagger.json")
    # Goa's swagger service serves the file with http.ServeFile.
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    served = (ROOT / "examples/cellar/gen/http/openapi.json").read_bytes()
    assert r.content == served
    again = c.get("/swagger/swagger.json", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_the_committed_document_is_what_the_design_generates() -> None:
    from examples.cellar.design import api

    from bastion.openapi import spec, to_json

    path = Path(ROOT / "examples/cellar/gen/http/openapi.json")
    assert path.read_bytes() == to_json(spec(api)), (
        "regenerate: bastion gen openapi examples.cellar.design:api "
        "-o examples/cellar/gen/http/openapi.json")


def _parts(*bottles: Any) -> list[tuple[str, tuple[None, bytes, str]]]:
    # As Goa's StorageMultiAddEncoderFunc writes them: a field "bottle" per bottle, JSON.
    return [("bottle", (None, json.dumps(b).encode(), "text/plain")) for b in bottles]


def test_multi_add_reads_each_part_as_a_bottle(c: httpx.Client) -> None:
    second = {**BOTTLE, "name": "Second", "vintage": 2016}
    r = c.post("/storage/multi_add", files=_parts(BOTTLE, second))
    # EncodeMultiAddResponse: 200 and the new ids, in order.
    assert r.status_code == 200, r.text
    ids = r.json()
    assert len(ids) == 2
    assert c.get(f"/storage/{ids[1]}").json()["name"] == "Second"


def test_multi_add_validates_every_bottle_and_names_the_bad_part(c: httpx.Client) -> None:
    bad = c.post("/storage/multi_add", files=_parts({**BOTTLE, "vintage": 1800}))
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["body[0].vintage"]
    broken = c.post("/storage/multi_add",
                    files=[("bottle", (None, b"{not json", "text/plain"))])
    assert broken.status_code == 400 and "part 0 ('bottle')" in broken.json()["message"]


def test_multi_update_maps_the_query_ids_to_the_parts(c: httpx.Client) -> None:
    made = c.post("/storage/multi_add", files=_parts(BOTTLE)).json()
    r = c.put("/storage/multi_update", params={"ids": made},
              files=_parts({**BOTTLE, "name": "Renamed"}))
    # EncodeMultiUpdateResponse: 204, no body.
    assert r.status_code == 204 and r.content == b""
    assert c.get(f"/storage/{made[0]}").json()["name"] == "Renamed"
    missing = c.put("/storage/multi_update", files=_parts(BOTTLE))
    assert missing.status_code == 400
    assert {e["field"] for e in missing.json()["errors"]} == {"ids"}
