"""Server interceptors on the operations seam: Goa's order, typed access, startup checks."""

from __future__ import annotations

from typing import Any

import pytest

import bastion
from bastion.dsl import (
    API,
    GRPC,
    HTTP,
    POST,
    Attribute,
    Field,
    Interceptor,
    Method,
    Payload,
    ReadPayload,
    ReadResult,
    ReadStreamingPayload,
    Required,
    Result,
    ServerInterceptor,
    Service,
    StreamingPayload,
    StreamingResult,
    String,
    WritePayload,
    WriteResult,
    WriteStreamingResult,
)
from bastion.dsl.expr import APIExpr
from bastion.endpoint import streams
from bastion.endpoint.interceptors import interceptor_layer
from bastion.errors import DesignError
from bastion.testing import LogCapture, TestClient
from tests.support.apps import quiet_app
from tests.support.lines import at, next_line

LINES: dict[str, int] = {}


def shop() -> APIExpr:
    with API("shop") as api:
        with Interceptor("Tenant"):
            with ReadPayload():
                Attribute("tenant")
        LINES["stamp"] = next_line()
        with Interceptor("Stamp"):
            with ReadResult():
                Attribute("status")
            with WriteResult():
                Attribute("stamp")
        with Interceptor("Normalize"):
            with ReadPayload():
                Attribute("sku")
            with WritePayload():
                Attribute("sku")
    with Service("shop"):
        ServerInterceptor("Tenant")
        with Method("get"):
            ServerInterceptor("Stamp", "Normalize")
            with Payload():
                Attribute("tenant", String)
                Attribute("sku", String, pattern=r"^[A-Za-z0-9-]+$")
                Required("tenant", "sku")
            with Result():
                Attribute("sku", String)
                Attribute("status", String)
                Attribute("stamp", String, max_length=16)
                Required("sku", "status")
            with HTTP():
                POST("/items")
    with Service("health"), Method("ping"), Result(String):
        pass
    return api


class Shop:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def get(self, p: Any) -> dict[str, Any]:
        self.seen.append(("method", p.sku))
        return {"sku": p.sku, "status": "in-stock"}  # a dict: the result is read by JSON name


class Health:
    async def ping(self) -> str:
        return "pong"


class Interceptors:
    """Records what runs; `misuse` makes one interceptor do a forbidden thing."""

    def __init__(self, log: list[Any], misuse: str = "") -> None:
        self._log = log
        self._misuse = misuse

    async def tenant(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        p = info.payload()
        assert repr(p) == "<TenantPayloadAccess: tenant>"  # no value, which may be secret
        self._log.append(("tenant", info.service, info.method, info.call_type, p.tenant))
        if self._misuse == "read-undeclared":
            return p.sku
        if self._misuse == "write-read-only":
            p.tenant = "other"
        if self._misuse == "result-undeclared":
            info.result({})
        result = await next(info.raw_payload)
        self._log.append(("tenant", "after"))
        return result

    async def stamp(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        self._log.append(("stamp",))
        result = await next(info.raw_payload)
        r = info.result(result)
        if self._misuse == "read-write-only":
            return r.stamp
        r.stamp = "x" * 20 if self._misuse == "write-too-long" else f"seen-{r.status}"
        self._log.append(("stamp", "after"))
        return result

    async def normalize(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        p = info.payload()
        self._log.append(("normalize", p.sku))
        p.sku = "not a sku!" if self._misuse == "write-invalid" else p.sku.upper()
        return await next(info.raw_payload)


def app_for(log: list[Any], misuse: str = "", shop_impl: Shop | None = None) -> bastion.App:
    return quiet_app(shop(), {"shop": shop_impl or Shop(), "health": Health()},
                     interceptors={"shop": Interceptors(log, misuse)})


async def call(app: bastion.App, values: dict[str, Any]) -> Any:
    app.build()
    op = app.operations[("shop", "get")]
    return op.convert_result(await op.call(op.build_payload(values)))


async def test_interceptors_run_in_goas_order_around_security_and_the_method() -> None:
    log: list[Any] = []
    impl = Shop()
    result = await call(app_for(log, shop_impl=impl), {"tenant": "acme", "sku": "ab-1"})
    # By name, the last outermost: Tenant, then Stamp, then Normalize, then the method.
    assert log == [("tenant", "shop", "get", "unary", "acme"), ("stamp",), ("normalize", "ab-1"),
                   ("stamp", "after"), ("tenant", "after")]
    assert impl.seen == [("method", "AB-1")]  # the payload Normalize wrote
    assert (result.sku, result.status, result.stamp) == ("AB-1", "in-stock", "seen-in-stock")


@pytest.mark.parametrize(("misuse", "error", "message"), [
    ("read-undeclared", bastion.InterceptorAccessError,
     "interceptor 'Tenant' on the payload of shop.get declares no access to 'sku'"),
    ("write-read-only", bastion.InterceptorAccessError,
     "may read 'tenant' (ReadPayload) but not write it: add it to WritePayload"),
    ("read-write-only", bastion.InterceptorAccessError,
     "may write 'stamp' (WriteResult) but not read it: add it to ReadResult"),
    ("result-undeclared", bastion.InterceptorAccessError,
     "interceptor 'Tenant' declares no access to the result of shop.get: declare "
     "ReadResult or WriteResult in its design"),
    ("write-invalid", bastion.InterceptorWriteError,
     "interceptor 'Normalize' on the payload of shop.get wrote 'sku' a value its design "
     "refuses: Expected `str` matching regex"),
    ("write-too-long", bastion.InterceptorWriteError,
     "wrote 'stamp' a value its design refuses: Expected `str` of length <= 16"),
])
async def test_access_outside_the_declared_attributes_is_a_clear_error(
        misuse: str, error: type[Exception], message: str) -> None:
    impl = Shop()
    with pytest.raises(error) as caught:
        await call(app_for([], misuse, impl), {"tenant": "acme", "sku": "AB-1"})
    assert message in str(caught.value)
    assert isinstance(caught.value, bastion.BastionError)
    if misuse in ("write-invalid", "read-undeclared", "write-read-only", "result-undeclared"):
        assert impl.seen == []  # refused before the method ran


async def test_a_refused_write_is_a_500_over_http_naming_nothing_inside() -> None:
    logs = LogCapture(level="info")
    refused = quiet_app(shop(), {"shop": Shop(), "health": Health()}, logger=logs.logger,
                        interceptors={"shop": Interceptors([], "write-invalid")})
    async with TestClient(refused) as client:
        r = await client.post("/items", json={"tenant": "acme", "sku": "AB-1"})
    assert r.status_code == 500
    assert "regex" not in r.text and "Normalize" not in r.text
    assert "InterceptorWriteError" in logs.text and "wrote 'sku'" in logs.text
    async with TestClient(app_for([])) as client:
        r = await client.post("/items", json={"tenant": "acme", "sku": "ab-1"})
    assert r.status_code == 200
    assert r.json() == {"sku": "AB-1", "status": "in-stock", "stamp": "seen-in-stock"}


def test_a_method_without_interceptors_is_not_wrapped() -> None:
    with API("plain") as api:
        Interceptor("Audit")
    with Service("s"):
        with Method("audited"):
            ServerInterceptor("Audit")
        Method("plain")

    class Impl:
        async def audited(self) -> None: ...
        async def plain(self) -> None: ...

    class Audit:
        async def audit(self, info: Any, next: Any) -> Any:
            return await next(info.raw_payload)

    app = quiet_app(api, {"s": Impl()}, interceptors={"s": Audit()})
    infos = app.endpoints["s"].infos
    layer = interceptor_layer(app.api.services["s"], Audit(), infos, {})
    assert layer is not None

    async def endpoint(payload: Any) -> Any:
        return payload

    assert layer(endpoint, infos["plain"]) is endpoint  # nothing per request
    assert layer(endpoint, infos["audited"]) is not endpoint
    shop_app = app_for([])
    assert interceptor_layer(shop_app.api.services["health"], None,
                             shop_app.endpoints["health"].infos, {}) is None


def test_a_missing_implementation_names_the_interceptor_and_its_line() -> None:
    class Partial:
        async def tenant(self, info: Any, next: Any) -> Any:
            return await next(info.raw_payload)

        async def normalize(self, info: Any, next: Any) -> Any:
            return await next(info.raw_payload)

    with pytest.raises(DesignError) as caught:
        quiet_app(shop(), {"shop": Shop(), "health": Health()},
                  interceptors={"shop": Partial()})
    msg = str(caught.value)
    assert msg.startswith(at(LINES["stamp"]) + "server interceptor 'Stamp'")
    assert "Partial has no method 'stamp'" in msg and "async def stamp(self, info, next)" in msg


def test_no_implementation_at_all_is_a_design_error() -> None:
    with pytest.raises(DesignError, match=r"(?s)3 problems .*no implementation was given"):
        quiet_app(shop(), {"shop": Shop(), "health": Health()})


def test_an_extra_or_sync_interceptor_names_its_def_line() -> None:
    class Extra(Interceptors):
        line = next_line()
        async def discount(self, info: Any, next: Any) -> Any:
            return await next(info.raw_payload)

    class Sync(Interceptors):
        line = next_line()
        def stamp(self, info: Any, next: Any) -> Any:
            return None

    with pytest.raises(DesignError) as caught:
        quiet_app(shop(), {"shop": Shop(), "health": Health()}, interceptors={"shop": Extra([])})
    assert str(caught.value).startswith(at(Extra.line) + "Extra.discount implements no server "
                                        "interceptor of service 'shop'")
    with pytest.raises(DesignError) as caught:
        quiet_app(shop(), {"shop": Shop(), "health": Health()}, interceptors={"shop": Sync([])})
    assert str(caught.value).startswith(at(Sync.line) + "Sync.stamp implements server "
                                        "interceptor 'Stamp' and must be `async def")
    with pytest.raises(DesignError, match=r"Health\.ping implements no server interceptor"):
        quiet_app(shop(), {"shop": Shop(), "health": Health()},
                  interceptors={"shop": Interceptors([]), "health": Health()})
    with pytest.raises(bastion.ImplementationError, match=r"services \['nope'\] are not"):
        quiet_app(shop(), {"shop": Shop(), "health": Health()},
                  interceptors={"shop": Interceptors([]), "nope": object()})


# ---------------------------------------------------------------------------- streams


def chat() -> APIExpr:
    with API("chat") as api:
        with Interceptor("Count"):
            with ReadStreamingPayload():
                Attribute("text")
        with Interceptor("Label"):
            with WriteStreamingResult():
                Attribute("by")
        with Interceptor("Room"):
            with ReadPayload():
                Attribute("room")
    with Service("chat"), Method("talk"):
        ServerInterceptor("Count", "Label", "Room")
        with Payload():
            Field(1, "room", String)
        with StreamingPayload():
            Field(1, "text", String)
        with StreamingResult():
            Field(1, "text", String)
            Field(2, "by", String)
        GRPC()
    return api


class Chat:
    async def talk(self, p: Any, stream: streams.Stream[Any]) -> Any:
        async for message in stream:
            yield {"text": message.text.upper()}


class ChatInterceptors:
    def __init__(self) -> None:
        self.log: list[Any] = []

    async def count(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        message = await next(info.raw_payload)
        self.log.append((info.call_type, None if message is None else
                         info.streaming_payload(message).text))
        return message

    async def label(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        info.streaming_result().by = "bot"
        self.log.append((info.call_type, "label"))
        return await next(info.raw_payload)

    async def room(self, info: bastion.InterceptorInfo, next: bastion.Next) -> Any:
        self.log.append((info.call_type, info.payload().room))
        return await next(info.raw_payload)


async def test_stream_interceptors_run_per_message_in_the_directions_they_declare() -> None:
    interceptors = ChatInterceptors()
    app = quiet_app(chat(), {"chat": Chat()}, interceptors={"chat": interceptors})
    app.build()
    op = app.operations[("chat", "talk")]
    incoming = iter([op.build_message({"text": "hi"}), op.build_message({"text": "yo"})])

    async def receive() -> Any:
        return next(incoming, streams.END)

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    token = streams.use(streams.StreamIO(streams.Stream(receive), send))
    try:
        await op.call(op.build_payload({"room": "lobby"}))
    finally:
        streams.reset(token)
    assert sent == [{"text": "HI", "by": "bot"}, {"text": "YO", "by": "bot"}]
    # Room declares payload access only: once, for the whole call; the others per message.
    assert interceptors.log == [
        ("unary", "lobby"), ("streaming_recv", "hi"), ("streaming_send", "label"),
        ("streaming_recv", "yo"), ("streaming_send", "label"), ("streaming_recv", None)]
