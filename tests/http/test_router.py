"""The router: static beats `{param}` beats `{*wildcard}`; 404 and 405 are told apart."""

from __future__ import annotations

from bastion.http.router import Match, Router


def router(*routes: tuple[str, str]) -> Router[str]:
    r: Router[str] = Router()
    for verb, path in routes:
        r.add(verb, path, f"{verb} {path}")
    r.compile()
    return r


def found(m: Match[str]) -> tuple[str | None, dict[str, str]]:
    return m.handler, m.params


def test_static_route() -> None:
    r = router(("GET", "/orders"), ("POST", "/orders"), ("GET", "/"))
    assert found(r.lookup("GET", "/orders")) == ("GET /orders", {})
    assert found(r.lookup("POST", "/orders")) == ("POST /orders", {})
    assert found(r.lookup("GET", "/")) == ("GET /", {})


def test_param_and_wildcard_capture_segments() -> None:
    r = router(("GET", "/orders/{id}"), ("GET", "/files/{*path}"),
               ("GET", "/users/{user}/orders/{order}"))
    assert found(r.lookup("GET", "/orders/42")) == ("GET /orders/{id}", {"id": "42"})
    assert found(r.lookup("GET", "/files/a/b/c.txt")) == (
        "GET /files/{*path}", {"path": "a/b/c.txt"})
    assert found(r.lookup("GET", "/users/u1/orders/o2")) == (
        "GET /users/{user}/orders/{order}", {"user": "u1", "order": "o2"})


def test_static_beats_param_beats_wildcard() -> None:
    r = router(("GET", "/a/new"), ("GET", "/a/{id}"), ("GET", "/a/{*rest}"))
    assert found(r.lookup("GET", "/a/new")) == ("GET /a/new", {})
    assert found(r.lookup("GET", "/a/7")) == ("GET /a/{id}", {"id": "7"})
    assert found(r.lookup("GET", "/a/7/8")) == ("GET /a/{*rest}", {"rest": "7/8"})


def test_backtracks_from_a_static_dead_end_to_a_param() -> None:
    r = router(("GET", "/a/new/edit"), ("GET", "/a/{id}/view"))
    assert found(r.lookup("GET", "/a/new/view")) == ("GET /a/{id}/view", {"id": "new"})
    assert found(r.lookup("GET", "/a/new/edit")) == ("GET /a/new/edit", {})


def test_backtracks_from_a_param_dead_end_to_a_wildcard() -> None:
    r = router(("GET", "/a/{id}/view"), ("GET", "/a/{*rest}"))
    assert found(r.lookup("GET", "/a/1/view")) == ("GET /a/{id}/view", {"id": "1"})
    # The param branch fails at "edit"; nothing it captured leaks into the wildcard match.
    assert found(r.lookup("GET", "/a/1/edit")) == ("GET /a/{*rest}", {"rest": "1/edit"})


def test_wildcard_matches_a_single_segment_but_a_param_needs_one() -> None:
    r = router(("GET", "/files/{*path}"), ("GET", "/users/{id}"))
    assert found(r.lookup("GET", "/files/x")) == ("GET /files/{*path}", {"path": "x"})
    assert r.lookup("GET", "/users/").handler is None
    assert r.lookup("GET", "/users").handler is None


def test_trailing_slash_is_ignored() -> None:
    r = router(("GET", "/orders"), ("GET", "/orders/{id}"))
    assert found(r.lookup("GET", "/orders/")) == ("GET /orders", {})
    assert found(r.lookup("GET", "/orders/5/")) == ("GET /orders/{id}", {"id": "5"})
    # A template declared with a trailing slash matches without it, too.
    r2 = router(("GET", "/things/"))
    assert found(r2.lookup("GET", "/things")) == ("GET /things/", {})


def test_unknown_path_is_404() -> None:
    r = router(("GET", "/orders"), ("GET", "/orders/{id}"))
    for path in ("/nope", "/orders/1/2", "/order"):
        m = r.lookup("GET", path)
        assert m.handler is None and m.allow is None, path
    static_only = router(("GET", "/a"))
    m = static_only.lookup("GET", "/b")
    assert m.handler is None and m.allow is None


def test_known_path_with_another_verb_is_405_with_allow() -> None:
    r = router(("GET", "/orders"), ("POST", "/orders"), ("DELETE", "/orders/{id}"),
               ("PUT", "/orders/{id}"), ("GET", "/files/{*p}"))
    m = r.lookup("PATCH", "/orders")
    assert m.handler is None and m.allow == "GET, HEAD, POST"
    m = r.lookup("GET", "/orders/1")
    assert m.handler is None and m.allow == "DELETE, PUT"
    m = r.lookup("POST", "/files/a/b")
    assert m.handler is None and m.allow == "GET, HEAD"


def test_head_is_served_by_get_unless_declared() -> None:
    r = router(("GET", "/a"), ("GET", "/b/{id}"), ("GET", "/c/{*rest}"), ("GET", "/d"),
               ("HEAD", "/d"))
    assert r.lookup("HEAD", "/a").handler == "GET /a"
    assert found(r.lookup("HEAD", "/b/1")) == ("GET /b/{id}", {"id": "1"})
    assert r.lookup("HEAD", "/c/x/y").handler == "GET /c/{*rest}"
    assert r.lookup("HEAD", "/d").handler == "HEAD /d"
    only_post = router(("POST", "/p"))
    m = only_post.lookup("HEAD", "/p")
    assert m.handler is None and m.allow == "POST"


def test_static_path_falls_back_to_a_param_route_for_its_verb() -> None:
    r = router(("POST", "/orders/search"), ("GET", "/orders/{id}"))
    assert found(r.lookup("GET", "/orders/search")) == ("GET /orders/{id}", {"id": "search"})
    assert r.lookup("POST", "/orders/search").handler == "POST /orders/search"


def test_allow_lists_every_verb_that_serves_the_path() -> None:
    # GET /orders/search is served (by the param route), so a 405 there must say so.
    r = router(("POST", "/orders/search"), ("GET", "/orders/{id}"))
    m = r.lookup("DELETE", "/orders/search")
    assert m.handler is None
    assert m.allow == "GET, HEAD, POST"


def test_routes_with_different_param_names_at_one_position() -> None:
    # Two methods may name the same segment differently (`{id}` for one verb, `{order_id}`
    # for another): each route gets its own names.
    r = router(("GET", "/orders/{id}"), ("DELETE", "/orders/{order_id}"),
               ("GET", "/orders/{order_id}/lines/{line}"))
    assert found(r.lookup("GET", "/orders/1")) == ("GET /orders/{id}", {"id": "1"})
    assert found(r.lookup("DELETE", "/orders/1")) == (
        "DELETE /orders/{order_id}", {"order_id": "1"})
    assert found(r.lookup("GET", "/orders/1/lines/2")) == (
        "GET /orders/{order_id}/lines/{line}", {"order_id": "1", "line": "2"})


def test_verb_falls_back_to_a_less_specific_route_that_serves_it() -> None:
    r = router(("DELETE", "/files/{id}"), ("GET", "/files/{*path}"))
    assert found(r.lookup("GET", "/files/a")) == ("GET /files/{*path}", {"path": "a"})
    assert found(r.lookup("DELETE", "/files/a")) == ("DELETE /files/{id}", {"id": "a"})


def test_path_segments_are_matched_exactly() -> None:
    r = router(("GET", "/Orders"), ("GET", "/x/{id}"))
    assert r.lookup("GET", "/orders").handler is None
    assert found(r.lookup("GET", "/x/a%2Fb")) == ("GET /x/{id}", {"id": "a%2Fb"})
    assert found(r.lookup("GET", "/x/caf\u00e9")) == ("GET /x/{id}", {"id": "caf\u00e9"})


def raw(r: Router[str], verb: str, target: str) -> Match[str]:
    """Look `target` up as an ASGI server hands it over: `path` decoded, `raw_path` not."""
    from urllib.parse import unquote

    return r.lookup(verb, unquote(target.partition("?")[0]), target.encode())


def test_an_encoded_slash_stays_inside_its_segment() -> None:
    r = router(("POST", "/orders/{id}/cancel"), ("POST", "/orders/{id}"), ("GET", "/a/b"))
    # Split first, decode after: `7%2Fcancel` is one segment, the id `7/cancel`.
    assert found(raw(r, "POST", "/orders/7%2Fcancel")) == ("POST /orders/{id}", {"id": "7/cancel"})
    assert found(raw(r, "POST", "/orders/7%2fcancel")) == ("POST /orders/{id}", {"id": "7/cancel"})
    assert found(raw(r, "POST", "/orders/7/cancel")) == ("POST /orders/{id}/cancel", {"id": "7"})
    assert raw(r, "GET", "/a%2Fb").handler is None  # a static route needs two segments too


def test_other_escapes_are_decoded_per_segment() -> None:
    r = router(("GET", "/orders"), ("GET", "/items/{name}"), ("GET", "/files/{*path}"))
    assert found(raw(r, "GET", "/ord%65rs")) == ("GET /orders", {})
    assert found(raw(r, "GET", "/ord%65rs/")) == ("GET /orders", {})
    assert found(raw(r, "GET", "/items/caf%C3%A9")) == ("GET /items/{name}", {"name": "café"})
    assert found(raw(r, "GET", "/items/a%20b?x=%41")) == ("GET /items/{name}", {"name": "a b"})
    assert found(raw(r, "GET", "/files/a%2Fb/c")) == ("GET /files/{*path}", {"path": "a/b/c"})
    assert found(raw(r, "GET", "/items/%ZZ")) == ("GET /items/{name}", {"name": "%ZZ"})


def test_escaped_paths_tell_404_from_405() -> None:
    r = router(("GET", "/orders"), ("DELETE", "/items/{id}"))
    assert raw(r, "POST", "/ord%65rs").allow == "GET, HEAD"
    assert raw(r, "GET", "/items/%31").allow == "DELETE"
    missing = raw(r, "GET", "/nothing%20here")
    assert missing.handler is None and missing.allow is None
    static_only = router(("GET", "/orders"))
    assert raw(static_only, "PUT", "/ord%65rs").allow == "GET, HEAD"
    assert raw(static_only, "GET", "/x%2Fy").allow is None
