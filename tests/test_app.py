"""`bastion.App` end to end, through the in-process test client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import typing
from collections.abc import AsyncIterator

import msgspec
import pytest

import bastion
from bastion.dsl import *
from bastion.endpoint import ImplementationError, MethodInfo
from bastion.errors import AlreadyStarted
from bastion.testing import LogCapture, TestClient
from bastion.types import ASGIApp, Endpoint, Message, Receive, Scope, Send
from tests.support.apps import quiet_app
from tests.support.asgi import Wire, call

ORDER_ID = "123e4567-e89b-12d3-a456-426614174000"


def orders_design() -> APIExpr:
    with API("orders") as api:
        Title("Orders")
        Error("unavailable", temporary=True)
        with HTTP():
            Response("unavailable", StatusServiceUnavailable)
    with Type("Order"):
        Attribute("id", String, format=UUID)
        Attribute("amount", Float64, minimum=0)
        Attribute("kind", String, enum=["retail", "wholesale"])
        Required("id", "amount", "kind")
    with Service("orders"):
        Error("not_found", description="Order not found")
        Error("conflict")
        Error("broken", fault=True)
        Error("slow", timeout=True)
        with HTTP():
            Path("/v1")
            Response("not_found", StatusNotFound)
        with Method("create"):
            with Payload():
                Attribute("order", "Order")
                Attribute("dry", Boolean)
                Required("order")
            with Result():
                Attribute("order", "Order")
                Attribute("location", String)
                Attribute("version", Int)
                Attribute("fresh", Boolean)
            with HTTP():
                POST("/orders")
                Body("order")
                Param("dry")
                with Response(StatusCreated):
                    Header("location:Location")
                    Header("version:X-Version")
                    Header("fresh:X-Fresh")
                    Body("order")
        with Method("show"):
            with Payload():
                Attribute("id", String, format=UUID)
                Required("id")
            Result("Order")
            with HTTP():
                GET("/orders/{id}")
                GET("/orders/by-id/{id}")
                Response("conflict", StatusConflict)
        with Method("list"):
            Result(ArrayOf("Order"))
            with HTTP():
                GET("/orders")
        with Method("remove"):
            with Payload():
                Attribute("id", String)
                Required("id")
            with HTTP():
                DELETE("/orders/{id}")
                Response("not_found", StatusGone)
        with Method("fail"):
            with Payload():
                Attribute("how", String)
                Required("how")
            with HTTP():
                POST("/fail")
        with Method("files"):
            with Payload():
                Attribute("path", String)
            Result(String)
            with HTTP():
                GET("/files/{*path}")
        with Method("probe"):
            with HTTP():
                OPTIONS("/probe")
                HEAD("/probe")
    return api


@dataclasses.dataclass
class OrderRow:
    """A row as an ORM might return it: converted to the result type by attributes."""

    id: str
    amount: float
    kind: str


class Orders:
    """An implementation mixing async and sync methods."""

    def __init__(self) -> None:
        self.db: dict[str, typing.Any] = {}
        self.threads: dict[str, int] = {}

    async def create(self, p: typing.Any) -> typing.Any:
        self.threads["create"] = threading.get_ident()
        if not p.dry:
            self.db[p.order.id] = p.order
        return {"order": p.order, "location": f"/v1/orders/{p.order.id}", "version": 3,
                "fresh": True}

    def show(self, p: typing.Any) -> typing.Any:  # sync: runs in a worker thread
        self.threads["show"] = threading.get_ident()
        if p.id not in self.db:
            raise bastion.make_error("not_found", f"no order {p.id}", field="id")
        return self.db[p.id]

    async def list(self) -> typing.Any:
        return [OrderRow(ORDER_ID, 1.5, "retail")]

    def remove(self, p: typing.Any) -> None:
        raise bastion.make_error("not_found", "already gone")

    async def fail(self, p: typing.Any) -> typing.Any:
        if p.how in ("not_found", "conflict", "broken", "slow", "unavailable", "undeclared"):
            raise bastion.make_error(p.how, f"failed with {p.how}")
        if p.how == "bad_result":
            return None
        raise RuntimeError("database password=hunter2 is wrong")

    async def files(self, p: typing.Any) -> str:
        return str(p.path)

    async def probe(self) -> None:
        return None


def app_for(
    api: APIExpr | None = None, impl: typing.Any = None, **kw: typing.Any
) -> tuple[bastion.App, typing.Any]:
    impl = impl if impl is not None else Orders()
    return quiet_app(api or orders_design(), {"orders": impl}, **kw), impl


ORDER = {"id": ORDER_ID, "amount": 9.5, "kind": "retail"}


# ---------------------------------------------------------------------------- routing


async def test_create_then_show_roundtrip() -> None:
    app, impl = app_for()
    async with TestClient(app) as c:
        created = await c.post("/v1/orders", json=ORDER)
        shown = await c.get(f"/v1/orders/{ORDER_ID}")
        again = await c.get(f"/v1/orders/by-id/{ORDER_ID}")
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    assert created.headers["location"] == f"/v1/orders/{ORDER_ID}"
    assert created.headers["x-version"] == "3"
    assert created.headers["x-fresh"] == "true"
    assert created.json() == ORDER
    assert shown.status_code == 200 and shown.json() == ORDER
    assert again.status_code == 200 and again.json() == ORDER
    assert isinstance(impl.db[ORDER_ID], msgspec.Struct)


async def test_unknown_path_is_404() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.get("/v1/nothing-here")
        unprefixed = await c.get("/orders")
    assert r.status_code == 404
    body = r.json()
    assert body["name"] == "not_found"
    assert set(body) == {"name", "id", "message", "temporary", "timeout", "fault"}
    assert unprefixed.status_code == 404


async def test_known_path_with_wrong_method_is_405_with_allow() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.put("/v1/orders")
        by_id = await c.post(f"/v1/orders/{ORDER_ID}")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST"
    assert r.json()["name"] == "method_not_allowed"
    assert by_id.status_code == 405
    assert by_id.headers["allow"] == "DELETE, GET, HEAD"


async def test_head_is_served_by_get_without_a_body() -> None:
    app, impl = app_for()
    impl.db[ORDER_ID] = ORDER
    async with TestClient(app) as c:
        get = await c.get(f"/v1/orders/{ORDER_ID}")
        head = await c.head(f"/v1/orders/{ORDER_ID}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"


async def test_declared_head_and_options_routes() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        options = await c.options("/v1/probe")
        head = await c.head("/v1/probe")
        get = await c.get("/v1/probe")
    assert options.status_code == 204 and head.status_code == 204
    assert get.status_code == 405 and get.headers["allow"] == "HEAD, OPTIONS"


async def test_wildcard_route_gets_the_rest_of_the_path() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.get("/v1/files/a/b/c.txt")
    assert r.status_code == 200 and r.json() == "a/b/c.txt"


async def test_routes_lists_every_route() -> None:
    app, _ = app_for()
    routes = set(app.routes)
    assert ("POST", "/v1/orders", "orders.create") in routes
    assert ("GET", "/v1/orders/{id}", "orders.show") in routes
    assert ("GET", "/v1/orders/by-id/{id}", "orders.show") in routes
    assert ("GET", "/v1/files/{*path}", "orders.files") in routes


# ---------------------------------------------------------------------------- validation


def every_kind_design() -> APIExpr:
    with API("kinds") as api:
        pass
    with Service("s"), Method("m"):
        with Payload():
            Attribute("flag", Boolean)
            Attribute("count", Int32, minimum=1, maximum=10)
            Attribute("ratio", Float64, exclusive_maximum=1)
            Attribute("kind", String, enum=["a", "b"])
            Attribute("email", String, format=Email)
            Attribute("when", String, format=DateTime)
            Attribute("day", String, format=Date)
            Attribute("site", String, format=URI)
            Attribute("v4", String, format=IPv4)
            Attribute("v6", String, format=IPv6)
            Attribute("host", String, format=Hostname)
            Attribute("re", String, format=Regexp)
            Attribute("code", String, pattern="^[A-Z]{2}$")
            Attribute("name", String, min_length=2, max_length=4)
            Attribute("tags", ArrayOf(String), min_length=1, max_length=2)
            Attribute("meta", MapOf(String, Int), max_length=1)
            Attribute("blob", Bytes, max_length=2)
            Attribute("must", String)
            Required("must")
        with HTTP():
            POST("/m")
    return api


class Kinds:
    def __init__(self) -> None:
        self.seen: list[typing.Any] = []

    async def m(self, p: typing.Any) -> None:
        self.seen.append(p)


async def test_every_validation_kind_is_reported_in_one_400() -> None:
    impl = Kinds()
    app = quiet_app(every_kind_design(), {"s": impl})
    bad = {
        "flag": "yes", "count": 11, "ratio": 1, "kind": "c", "email": "x", "when": "today",
        "day": "2024-02-30", "site": "no scheme", "v4": "1.2.3.999", "v6": "::g",
        "host": "-x-", "re": "(", "code": "abc", "name": "a", "tags": [], "meta": {"a": 1,
        "b": 2}, "blob": "aGVsbG8=",
    }
    async with TestClient(app) as c:
        r = await c.post("/m", json=bad)
        ok = await c.post("/m", json={"must": "x", "count": 10, "ratio": 0.5, "email": "a@b.co",
                                      "site": "https://x.y", "v6": "::1", "re": "^a"})
    assert r.status_code == 400
    body = r.json()
    got = {e["field"]: e["message"] for e in body["errors"]}
    assert got == {
        "flag": "Expected `bool`, got `str`",
        "count": "Expected `int` <= 10",
        "ratio": "Expected `float` < 1.0",
        "kind": "Invalid enum value 'c'",
        "email": "Expected `str` formatted as an email address",
        "when": "Expected `str` formatted as an RFC 3339 date-time",
        "day": "Expected `str` formatted as an RFC 3339 date (YYYY-MM-DD)",
        "site": "Expected `str` formatted as a URI",
        "v4": "Expected `str` formatted as an IPv4 address",
        "v6": "Expected `str` formatted as an IPv6 address",
        "host": "Expected `str` formatted as a hostname",
        "re": "Expected `str` formatted as a regular expression",
        "code": "Expected `str` matching regex '^[A-Z]{2}$'",
        "name": "Expected `str` of length >= 2",
        "tags": "Expected `array` of length >= 1",
        "meta": "Expected `object` of length <= 1",
        "blob": "Expected `bytes` of length <= 2",
        "must": "missing required field",
    }
    assert all(e["in"] == "body" for e in body["errors"])
    assert body["message"] == f"18 invalid fields: {', '.join(got)}"
    assert ok.status_code == 204, ok.text
    assert impl.seen[0].count == 10


async def test_validation_errors_from_path_and_body_together() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.post("/v1/orders?dry=perhaps", json={"id": "x", "amount": -1, "kind": "gift"})
        show = await c.get("/v1/orders/not-a-uuid")
    assert r.status_code == 400
    assert [(e["field"], e["in"]) for e in r.json()["errors"]] == [
        ("dry", "query"), ("id", "body"), ("amount", "body"), ("kind", "body"),
    ]
    assert show.status_code == 400
    assert show.json()["errors"] == [
        {"field": "id", "in": "path", "message": "Expected `str` formatted as a UUID"},
    ]


# ---------------------------------------------------------------------------- errors


async def test_design_error_gets_its_status_and_full_body() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.get(f"/v1/orders/{ORDER_ID}")
    assert r.status_code == 404
    body = r.json()
    assert body.pop("id")
    assert body == {
        "name": "not_found",
        "message": f"no order {ORDER_ID}",
        "temporary": False,
        "timeout": False,
        "fault": False,
        "field": "id",
    }


async def test_method_level_mapping_beats_the_service_one() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.delete(f"/v1/orders/{ORDER_ID}")
    assert r.status_code == 410
    assert r.json()["name"] == "not_found"
    assert "field" not in r.json()


@pytest.mark.parametrize(
    ("how", "status", "flags"),
    [
        ("not_found", 404, (False, False, False)),  # service-level mapping
        ("unavailable", 503, (True, False, False)),  # API-level error and mapping
        ("conflict", 400, (False, False, False)),  # declared, not mapped for this method
        ("broken", 500, (False, False, True)),  # a fault with no mapping
        ("slow", 400, (False, True, False)),
    ],
)
async def test_error_status_and_flags_come_from_the_design(
    how: str, status: int, flags: tuple[bool, bool, bool]
) -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.post("/v1/fail", json={"how": how})
    assert r.status_code == status
    body = r.json()
    assert body["name"] == how
    assert body["message"] == f"failed with {how}"
    assert (body["temporary"], body["timeout"], body["fault"]) == flags


async def test_unexpected_exception_is_500_with_only_an_id_that_is_logged() -> None:
    logs = LogCapture(level="info")
    app, _ = app_for(logger=logs.logger)
    async with TestClient(app) as c:
        r = await c.post("/v1/fail", json={"how": "crash"})
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"name", "id", "message", "temporary", "timeout", "fault"}
    assert body["name"] == "internal" and body["fault"] is True
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert "Traceback" not in r.text and "fail" not in body["message"]
    errors = [line for line in logs.lines if line["level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["error.id"] == body["id"]
    stack = errors[0]["exception.stacktrace"]
    assert "Traceback (most recent call last)" in stack
    # The exception's text is logged, with the secret in it redacted as routed lines are.
    assert "RuntimeError: database password=REDACTED is wrong" in stack
    assert "hunter2" not in str(errors[0])


async def test_undeclared_error_name_is_a_500() -> None:
    logs = LogCapture(level="info")
    app, _ = app_for(logger=logs.logger)
    async with TestClient(app) as c:
        r = await c.post("/v1/fail", json={"how": "undeclared"})
    assert r.status_code == 500
    assert r.json()["name"] == "internal"
    assert "undeclared" not in r.text
    (error,) = [line for line in logs.lines if line["level"] == "error"]
    assert error["error.id"] == r.json()["id"]


async def test_result_that_breaks_the_design_is_a_500() -> None:
    app, _ = app_for()
    async with TestClient(app) as c:
        r = await c.get("/v1/orders")  # returns a dataclass: converted by attributes
        bad = await c.post("/v1/fail", json={"how": "bad_result"})
    assert r.status_code == 200 and r.json() == [{"id": ORDER_ID, "amount": 1.5, "kind": "retail"}]
    assert bad.status_code == 204  # `fail` has no Result: whatever it returns is dropped

    class BadShow(Orders):
        def show(self, p: typing.Any) -> typing.Any:
            return {"id": "not-a-uuid", "amount": -5, "kind": "retail"}

    logs = LogCapture(level="info")
    app2, _ = app_for(impl=BadShow(), logger=logs.logger)
    async with TestClient(app2) as c:
        r2 = await c.get(f"/v1/orders/{ORDER_ID}")
    assert r2.status_code == 500
    assert "not-a-uuid" not in r2.text
    (error,) = [line for line in logs.lines if line["level"] == "error"]
    assert error["error.id"] == r2.json()["id"]
    assert "does not match the design" in error["exception.stacktrace"]


# ---------------------------------------------------------------------------- service calls


async def test_sync_methods_run_in_a_thread_pool_and_async_ones_on_the_loop() -> None:
    app, impl = app_for()
    loop_thread = threading.get_ident()
    async with TestClient(app) as c:
        await c.post("/v1/orders", json=ORDER)
        await c.get(f"/v1/orders/{ORDER_ID}")
    assert impl.threads["create"] == loop_thread
    assert impl.threads["show"] != loop_thread


async def test_slow_sync_methods_do_not_block_the_loop() -> None:
    with API("slow") as api:
        pass
    with Service("s"):
        with Method("wait"), HTTP():
            GET("/wait")
        with Method("ping"), HTTP():
            GET("/ping")
    release = threading.Event()

    class Impl:
        def wait(self) -> None:
            release.wait(timeout=10)

        async def ping(self) -> None:
            return None

    app = quiet_app(api, {"s": Impl()})
    async with TestClient(app) as c:
        waiting = asyncio.ensure_future(c.get("/wait"))
        await asyncio.sleep(0.05)
        pong = await c.get("/ping")  # served while `wait` blocks its thread
        assert not waiting.done()
        release.set()
        assert (await waiting).status_code == 204
    assert pong.status_code == 204


async def test_payload_is_a_typed_object() -> None:
    app, impl = app_for()
    async with TestClient(app) as c:
        await c.post("/v1/orders?dry=false", json={**ORDER, "amount": 3})
    order = impl.db[ORDER_ID]
    assert type(order).__name__ == "Order"
    assert order.amount == 3.0 and type(order.amount) is float
    assert order.kind == "retail"


# ---------------------------------------------------------------------------- middleware


async def test_endpoint_middleware_first_used_is_outermost() -> None:
    app, _ = app_for()
    events: list[str] = []
    infos: list[tuple[str, str]] = []

    def tracer(tag: str) -> typing.Any:
        def mw(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
            infos.append((tag, info.name))

            async def wrapped(payload: typing.Any) -> typing.Any:
                events.append(f"{tag} in")
                result = await endpoint(payload)
                events.append(f"{tag} out")
                return result

            return wrapped

        return mw

    app.endpoints["orders"].use(tracer("outer"))
    app.endpoints["orders"].use(tracer("inner"))
    async with TestClient(app) as c:
        r = await c.post("/v1/orders", json=ORDER)
    assert r.status_code == 201
    assert events == ["outer in", "inner in", "inner out", "outer out"]
    assert ("outer", "create") in infos and ("inner", "show") in infos


async def test_endpoint_middleware_can_change_payload_and_result() -> None:
    app, impl = app_for()

    def discount(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
        if info.name != "create":
            return endpoint

        async def wrapped(payload: typing.Any) -> typing.Any:
            payload.order.amount = 1.0
            result = await endpoint(payload)
            result["version"] = 9
            return result

        return wrapped

    app.endpoints["orders"].use(discount)
    async with TestClient(app) as c:
        r = await c.post("/v1/orders", json=ORDER)
    assert r.json()["amount"] == 1.0
    assert r.headers["x-version"] == "9"
    assert impl.db[ORDER_ID].amount == 1.0


async def test_http_middleware_first_added_is_outermost() -> None:
    app, _ = app_for()
    events: list[str] = []

    def tagging(tag: str) -> typing.Any:
        def mw(inner: ASGIApp) -> ASGIApp:
            async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
                if scope["type"] != "http":
                    await inner(scope, receive, send)
                    return
                events.append(f"{tag} in")

                async def tag_send(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        events.append(f"{tag} start")
                        message["headers"] = [*message["headers"],
                                              (b"x-mw", tag.encode())]
                    await send(message)

                await inner(scope, receive, tag_send)
                events.append(f"{tag} out")

            return wrapped

        return mw

    app.use(tagging("first"))
    app.use(tagging("second"))
    async with TestClient(app) as c:
        r = await c.get("/v1/orders")
        missing = await c.get("/nope")
    assert r.status_code == 200
    assert events[:6] == ["first in", "second in", "second start", "first start", "second out",
                          "first out"]
    assert r.headers.get_list("x-mw") == ["second", "first"]
    assert missing.status_code == 404 and missing.headers.get_list("x-mw") == ["second", "first"]


async def test_http_middleware_can_answer_before_routing() -> None:
    app, impl = app_for()

    def gate(inner: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST":
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"maintenance"})
                return
            await inner(scope, receive, send)

        return wrapped

    app.use(gate)
    async with TestClient(app) as c:
        r = await c.post("/v1/orders", json=ORDER)
    assert r.status_code == 503 and r.text == "maintenance"
    assert impl.db == {}


async def test_http_middleware_added_after_the_app_started_is_refused() -> None:
    app, _ = app_for()
    added: list[str] = []

    def late(inner: ASGIApp) -> ASGIApp:
        added.append("late")
        return inner

    async with TestClient(app) as c:
        with pytest.raises(AlreadyStarted, match=r"App\.use\(\) after the App started"):
            app.use(late)
        r = await c.get("/v1/orders")
    assert r.status_code == 200
    assert added == []  # refused, not kept for a stack that is never rebuilt
    assert isinstance(AlreadyStarted("x"), bastion.BastionError)


# ---------------------------------------------------------------------------- startup


def test_missing_method_fails_at_startup_naming_it() -> None:
    class Partial:
        async def create(self, p: typing.Any) -> typing.Any:
            return None

    with pytest.raises(ImplementationError) as info:
        quiet_app(orders_design(), {"orders": Partial()})
    message = str(info.value)
    assert "service 'orders'" in message and "Partial" in message
    for name in ("show", "list", "remove", "fail", "files", "probe"):
        assert f"'{name}'" in message
    assert "'create'" not in message
    assert isinstance(info.value, TypeError) and isinstance(info.value, bastion.BastionError)


def test_non_callable_attribute_is_not_a_method() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("run"), HTTP():
        GET("/run")

    class Impl:
        run = "not callable"

    with pytest.raises(ImplementationError, match="lacks method\\(s\\) 'run'"):
        quiet_app(api, {"s": Impl()})


def test_missing_and_unknown_services_fail_at_startup() -> None:
    api = orders_design()
    with pytest.raises(ImplementationError, match=r"no implementation given for service\(s\) "
                       r"\['orders'\]"):
        quiet_app(api, {})
    with pytest.raises(ImplementationError, match=r"services \['billing'\] are not in design"):
        quiet_app(api, {"orders": Orders(), "billing": object()})


def test_method_names_that_are_not_identifiers_map_to_python_names() -> None:
    with API("a") as api:
        pass
    with Service("s"), Method("get-order"), HTTP():
        GET("/o")

    class Impl:
        async def get_order(self) -> None:
            return None

    app = quiet_app(api, {"s": Impl()})
    assert ("GET", "/o", "s.get-order") in app.routes


async def test_two_apps_in_one_process_do_not_share_state() -> None:
    api = orders_design()
    first, second = Orders(), Orders()
    app1 = quiet_app(api, {"orders": first})
    app2 = quiet_app(api, {"orders": second})
    seen: list[str] = []

    def mark(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
        async def wrapped(payload: typing.Any) -> typing.Any:
            seen.append(info.name)
            return await endpoint(payload)

        return wrapped

    app1.endpoints["orders"].use(mark)
    async with TestClient(app1) as c1, TestClient(app2) as c2:
        await c1.post("/v1/orders", json=ORDER)
        r = await c2.get(f"/v1/orders/{ORDER_ID}")
    assert ORDER_ID in first.db and ORDER_ID not in second.db
    assert r.status_code == 404
    assert seen == ["create"]


# ---------------------------------------------------------------------------- ASGI


async def test_lifespan_protocol_and_user_lifespan() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: bastion.App) -> AsyncIterator[None]:
        events.append(f"startup {app.title}")
        yield
        events.append("shutdown")

    app, _ = app_for(lifespan=lifespan)
    sent: list[Message] = []
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    for kind in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": kind})

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                         "lifespan.shutdown.complete"]
    assert events == ["startup Orders", "shutdown"]


async def test_lifespan_startup_failure_is_reported() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: bastion.App) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    app, _ = app_for(lifespan=lifespan)
    sent: list[Message] = []
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    assert sent == [{"type": "lifespan.startup.failed", "message": "RuntimeError: no database"}]


async def test_websocket_connections_are_closed() -> None:
    app, _ = app_for()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/v1/orders", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1003}]


async def test_raw_asgi_request_without_lifespan() -> None:
    app, impl = app_for()
    impl.db[ORDER_ID] = ORDER
    r = await call(app, "GET", f"/v1/orders/{ORDER_ID}", wire=Wire())
    assert r.status == 200
    assert r.json() == ORDER
    assert r.headers["content-length"] == str(len(r.body))


async def test_methods_may_name_the_same_path_segment_differently() -> None:
    with API("names") as api:
        pass
    with Service("items"):
        with Method("show"):
            with Payload():
                Attribute("id", Int)
                Required("id")
            Result(Int)
            with HTTP():
                GET("/items/{id}")
        with Method("remove"):
            with Payload():
                Attribute("item_id", Int)
                Required("item_id")
            Result(Int)
            with HTTP():
                DELETE("/items/{item_id}")

    class Items:
        async def show(self, p: typing.Any) -> int:
            return int(p.id)

        async def remove(self, p: typing.Any) -> int:
            return -int(p.item_id)

    app = quiet_app(api, {"items": Items()})
    async with TestClient(app) as c:
        shown = await c.get("/items/5")
        removed = await c.delete("/items/5")
    assert shown.status_code == 200 and shown.json() == 5, shown.text
    assert removed.status_code == 200 and removed.json() == -5, removed.text


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/healthz"])
async def test_built_in_routes_never_shadow_design_routes(path: str) -> None:
    # The design's route must be served, or the App must refuse to start naming the clash;
    # silently answering with the built-in page would hide the user's method.
    with API("docs") as api:
        pass
    with Service("s"), Method("m"):
        Result(String)
        with HTTP():
            GET(path)

    class Impl:
        async def m(self) -> str:
            return "the user's method"

    try:
        app = quiet_app(api, {"s": Impl()})
    except (bastion.BastionError, ValueError) as exc:
        assert path in str(exc)
        return
    async with TestClient(app) as c:
        r = await c.get(path)
    assert r.status_code == 200
    assert r.json() == "the user's method"


async def test_the_500_log_line_has_the_whole_stack_and_the_end_line_its_error_id() -> None:
    with API("deep") as api:
        pass
    with Service("s"), Method("boom"), HTTP():
        GET("/boom")

    class S:
        async def boom(self) -> None:
            def dive(n: int) -> None:
                if n == 0:
                    raise RuntimeError("the root cause")
                dive(n - 1)

            dive(40)

    logs = LogCapture()
    app = bastion.App(api, {"s": S()}, logger=logs.logger)
    async with TestClient(app) as test_client:
        r = await test_client.get("/boom")
    line = logs.find(msg="unexpected error")
    assert line["error.id"] == r.json()["id"]
    stack = line["exception.stacktrace"]
    # 40 frames of the user's own code are far over the 1 KiB value limit: all are kept.
    assert stack.startswith("Traceback (most recent call last):")
    assert stack.count("in dive") == 41
    assert stack.endswith("RuntimeError: the root cause")
    end = logs.find(msg="end")
    assert (end["error.type"], end["error.id"]) == ("internal", r.json()["id"])


async def test_a_debug_authorizer_that_refuses_by_raising_leaves_the_request_served() -> None:
    with API("dbg") as api:
        pass
    with Service("s"), Method("hello"):
        Result(String)
        with HTTP():
            GET("/hello")

    class S:
        async def hello(self) -> str:
            bastion.log.debug("a debug detail")
            return "hi"

    async def refuse(scope: Scope) -> bool:
        raise bastion.Forbidden("not for you")

    logs = LogCapture(level="info")
    app = bastion.App(api, {"s": S()}, logger=logs.logger,
                      debug=bastion.Debug(authorizer=refuse))
    async with TestClient(app) as test_client:
        r = await test_client.get("/hello", headers={"X-Debug-Logs": "on"})
    assert r.status_code == 200 and r.json() == "hi"
    assert "a debug detail" not in logs.text
