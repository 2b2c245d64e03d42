"""The gRPC transport through a real listener on 127.0.0.1, with stock grpcio clients.

The clients are built from `bastion gen proto`'s file compiled by grpcio-tools: what the
server serves is checked against what a user would compile.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from types import ModuleType
from typing import Any

import grpc
import pytest

from tests.support import grpc_shop
from tests.support.grpc import Served, bearer, details, serve_grpc


async def test_unary_call_returns_the_result_as_the_contract_says(stub: Any, pb: ModuleType,
                                                                  shop: grpc_shop.Shop) -> None:
    reply = await stub.Get(pb.GetRequest(sku="ab-1", qty=3),
                           metadata=[*bearer("shop:read"), ("x-request-tag", "t1")])
    assert (reply.sku, reply.qty, list(reply.tags)) == ("ab-1", 3, ["a", "b"])
    assert reply.kind == pb.GetResponse.KIND_FANCY_ONE
    assert dict(reply.prices) == {"eur": 1.5}
    assert reply.made_at.ToDatetime(tzinfo=datetime.UTC) == datetime.datetime(
        2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    assert [(p.sku, p.qty) for p in reply.parts] == [("p1", 1)]
    assert reply.note == "t1" and not reply.HasField("data")
    # The metadata attribute and the optional field's default reached the method.
    assert shop.seen["get"].request_tag == "t1"


async def test_an_optional_field_left_out_takes_the_design_default(stub: Any, pb: ModuleType,
                                                                   shop: grpc_shop.Shop) -> None:
    reply = await stub.Get(pb.GetRequest(sku="ab"), metadata=bearer("shop:read"))
    assert reply.qty == 1
    assert shop.seen["get"].qty == 1


async def test_nested_messages_enums_maps_bytes_and_timestamps_round_trip(
        stub: Any, pb: ModuleType, shop: grpc_shop.Shop) -> None:
    item = pb.Item(sku="root", qty=2, tags=["x"], prices={"usd": 2.25}, kind=pb.Item.KIND_PLAIN,
                   note="n", data=b"\x00\xff", parts=[pb.Item(sku="leaf", qty=1)])
    item.made_at.FromDatetime(datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC))
    reply = await stub.Add(pb.AddRequest(item=item), metadata=bearer("shop:write"))
    got = shop.seen["add"].item
    assert (got.kind, got.made_at, got.data) == ("plain", "2025-01-02T03:04:05Z", b"\x00\xff")
    assert got.parts[0].sku == "leaf" and got.prices == {"usd": 2.25}
    assert reply.SerializeToString(deterministic=True) == pb.AddResponse.FromString(
        item.SerializeToString()).SerializeToString(deterministic=True)


async def test_invalid_argument_names_every_bad_field_in_the_details(stub: Any,
                                                                     pb: ModuleType) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Get(pb.GetRequest(sku="A", qty=11),
                       metadata=[*bearer("shop:read"), ("x-request-tag", "far-too-long")])
    err = caught.value
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = details(err)
    assert set(found["fields"]) == {"sku", "qty", "x-request-tag"}
    assert "<= 10" in found["fields"]["qty"]
    assert found["info"].reason == "invalid_argument" and found["info"].domain == "shop"
    for name in ("sku", "qty", "x-request-tag"):
        assert name in err.details()


async def test_a_missing_required_message_is_named(stub: Any, pb: ModuleType) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Add(pb.AddRequest(), metadata=bearer("shop:write"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert details(caught.value)["fields"] == {"item": "missing required field"}


async def test_nested_bad_fields_are_named_by_their_protobuf_path(stub: Any,
                                                                  pb: ModuleType) -> None:
    item = pb.Item(sku="ok", qty=1, parts=[pb.Item(sku="x", qty=0)], tags=[""])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Add(pb.AddRequest(item=item), metadata=bearer("shop:write"))
    fields = details(caught.value)["fields"]
    assert set(fields) == {"item.parts[0].sku", "item.parts[0].qty", "item.tags[0]"}


@pytest.mark.parametrize(("metadata", "reason"), [
    ([], "missing"),
    ([("authorization", "Bearer not-a-jwt")], "invalid"),
])
async def test_unauthenticated_without_a_good_credential(stub: Any, pb: ModuleType,
                                                         metadata: list[Any], reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Get(pb.GetRequest(sku="ab"), metadata=metadata)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    info = details(caught.value)["info"]
    assert (info.reason, info.metadata["reason"], info.metadata["scheme"]) == (
        "unauthorized", reason, "jwt")


async def test_permission_denied_names_the_missing_scopes(stub: Any, pb: ModuleType) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Add(pb.AddRequest(item=pb.Item(sku="ab", qty=1)),
                       metadata=bearer("shop:read"))
    err = caught.value
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "shop:write" in err.details()
    assert details(err)["info"].metadata["missing_scopes"] == "shop:write"


async def test_api_key_and_basic_credentials_come_from_metadata(stub: Any, pb: ModuleType) -> None:
    reply = await stub.ByKey(pb.ByKeyRequest(sku="k1"), metadata=[("x-api-key",
                                                                   grpc_shop.API_KEY)])
    assert reply.sku == "k1"
    basic = base64.b64encode(b"ada:lovelace").decode()
    login = await stub.Login(pb.LoginRequest(), metadata=[("authorization", f"Basic {basic}")])
    assert login.user == "ada"
    wrong = base64.b64encode(b"ada:babbage").decode()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Login(pb.LoginRequest(), metadata=[("authorization", f"Basic {wrong}")])
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_an_oauth2_access_token_comes_from_metadata(stub: Any, pb: ModuleType) -> None:
    good = [("authorization", "Bearer oauth-stock-token-0123")]
    reply = await stub.Stock(pb.StockRequest(sku="abc"), metadata=good)
    assert (reply.client, reply.count) == ("stock-client", 3)


@pytest.mark.parametrize(("metadata", "reason"), [
    ([], "missing"),
    ([("authorization", "Bearer no-such-token")], "invalid"),
])
async def test_oauth2_without_a_good_access_token_is_unauthenticated(
        stub: Any, pb: ModuleType, metadata: list[Any], reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Stock(pb.StockRequest(sku="abc"), metadata=metadata)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    info = details(caught.value)["info"]
    assert (info.reason, info.metadata["reason"], info.metadata["scheme"]) == (
        "unauthorized", reason, "oauth")


async def test_oauth2_without_the_scope_is_denied_naming_it(stub: Any, pb: ModuleType) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Stock(pb.StockRequest(sku="abc"),
                         metadata=[("authorization", "Bearer oauth-read-token-0123")])
    err = caught.value
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "shop:stock" in (err.details() or "")
    assert details(err)["info"].metadata["missing_scopes"] == "shop:stock"


async def test_rate_limits_are_shared_with_http(served: Served, stub: Any, pb: ModuleType) -> None:
    import httpx

    key = [("x-api-key", grpc_shop.API_KEY)]
    async with httpx.AsyncClient(base_url=served.url) as http:
        for _ in range(2):
            r = await http.get("/keyed/a1", headers={"X-API-Key": grpc_shop.API_KEY})
            assert r.status_code == 200
    await stub.ByKey(pb.ByKeyRequest(sku="a1"), metadata=key)  # the third of 3/minute
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ByKey(pb.ByKeyRequest(sku="a1"), metadata=key)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(caught.value)["retry"] >= 1


async def test_the_brute_force_lockout_is_shared_with_http(pb_grpc: ModuleType,
                                                          pb: ModuleType) -> None:
    from bastion.security import RateLimits

    app = grpc_shop.build(limits=RateLimits(failures_per_client="2/minute"))
    bad = base64.b64encode(b"ada:wrong").decode()
    good = base64.b64encode(b"ada:lovelace").decode()
    async with serve_grpc(app) as served:
        import httpx

        async with httpx.AsyncClient(base_url=served.url) as http:
            for _ in range(2):
                r = await http.post("/login", headers={"Authorization": f"Basic {bad}"})
                assert r.status_code == 401
        async with grpc.aio.insecure_channel(served.target) as channel:
            stub = pb_grpc.ShopStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Login(pb.LoginRequest(), metadata=[("authorization", f"Basic {good}")])
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(caught.value)["info"].metadata["reason"] == "locked_out"


@pytest.mark.parametrize(("how", "code"), [
    ("not_found", grpc.StatusCode.NOT_FOUND),            # the service's Response
    ("overloaded", grpc.StatusCode.RESOURCE_EXHAUSTED),  # the API's Response
    ("gone", grpc.StatusCode.UNAVAILABLE),               # Goa's rule: temporary
    ("broken", grpc.StatusCode.INTERNAL),                # Goa's rule: a fault
])
async def test_design_errors_are_mapped_to_codes(stub: Any, pb: ModuleType, how: str,
                                                 code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Fail(pb.FailRequest(how=getattr(pb.FailRequest, f"HOW_{how.upper()}")))
    err = caught.value
    assert err.code() is code
    assert err.details() == f"failed: {how}"
    info = details(err)["info"]
    assert info.reason == how and info.metadata["id"]


async def test_a_bug_is_internal_with_an_id_matching_the_log_line(pb_grpc: ModuleType,
                                                                  pb: ModuleType) -> None:
    from bastion.testing import LogCapture

    logs = LogCapture()
    app = grpc_shop.build(logger=logs.logger)
    async with serve_grpc(app) as served, grpc.aio.insecure_channel(served.target) as channel:
        stub = pb_grpc.ShopStub(channel)
        for how in ("bug", "undeclared"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Fail(pb.FailRequest(how=getattr(pb.FailRequest, f"HOW_{how.upper()}")))
            err = caught.value
            assert err.code() is grpc.StatusCode.INTERNAL
            assert "hunter2" not in err.details() and "Traceback" not in err.details()
            error_id = details(err)["info"].metadata["id"]
            line = logs.find(msg="unexpected error", **{"error.id": error_id})
            assert line["url.path"] == "/shoptest.Shop/Fail"


async def test_the_method_sees_the_client_deadline(stub: Any, pb: ModuleType) -> None:
    reply = await stub.Slow(pb.SlowRequest(seconds=0), timeout=7.5)
    # grpc-timeout travels as a duration: the server counts it from when the call
    # arrives, so its deadline may lie a few milliseconds past the client's.
    assert 5.0 < reply.deadline_in <= 7.6


async def test_a_unary_call_without_deadline_gets_write_timeout(pb_grpc: ModuleType,
                                                               pb: ModuleType) -> None:
    app = grpc_shop.build()
    async with serve_grpc(app, write_timeout=4.0) as served, \
            grpc.aio.insecure_channel(served.target) as channel:
        reply = await pb_grpc.ShopStub(channel).Slow(pb.SlowRequest(seconds=0))
    assert 2.0 < reply.deadline_in <= 4.0


async def test_a_method_past_its_deadline_is_cancelled(stub: Any, pb: ModuleType,
                                                       shop: grpc_shop.Shop) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Slow(pb.SlowRequest(seconds=30), timeout=0.5)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(100):
        if "slow_cancelled" in shop.seen:
            break
        await asyncio.sleep(0.02)
    assert shop.seen["slow_cancelled"] is True  # bastion.cancelled() inside the method


async def test_server_stream_sends_each_item(stub: Any, pb: ModuleType) -> None:
    got = [(m.sku, m.qty) async for m in stub.Watch(pb.WatchRequest(count=3))]
    assert got == [("w1", 1), ("w2", 2), ("w3", 3)]


async def test_client_stream_receives_each_validated_message(stub: Any, pb: ModuleType) -> None:
    async def items() -> Any:
        for n in (1, 2, 3):
            yield pb.UploadStreamingRequest(sku=f"s{n}", qty=n)

    reply = await stub.Upload(items())
    assert (reply.total, reply.count) == (6, 3)

    async def bad() -> Any:
        yield pb.UploadStreamingRequest(sku="ok", qty=1)
        yield pb.UploadStreamingRequest(sku="x", qty=0)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Upload(bad())
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(details(caught.value)["fields"]) == {"sku", "qty"}


async def test_bidirectional_stream_with_its_payload_in_metadata(stub: Any,
                                                                 pb: ModuleType) -> None:
    async def items() -> Any:
        for n in (1, 2):
            yield pb.ChatStreamingRequest(sku=f"c{n}", qty=n)

    call = stub.Chat(items(), metadata=[("factor", "10")])
    assert [(m.sku, m.qty) async for m in call] == [("c1", 10), ("c2", 20)]


async def test_the_request_id_comes_back_in_trailers_and_on_the_log_lines(
        pb_grpc: ModuleType, pb: ModuleType) -> None:
    from bastion.testing import LogCapture

    logs = LogCapture()
    async with serve_grpc(grpc_shop.build(logger=logs.logger)) as served, \
            grpc.aio.insecure_channel(served.target) as channel:
        call = pb_grpc.ShopStub(channel).Fail(pb.FailRequest(how=pb.FailRequest.HOW_NOT_FOUND),
                                              metadata=[("x-request-id", "rid-42")])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
    assert dict(caught.value.trailing_metadata())["x-request-id"] == "rid-42"
    start = logs.find(msg="start", request_id="rid-42")
    end = logs.find(msg="end", request_id="rid-42")
    assert start["rpc.service"] == "shoptest.Shop" and start["rpc.method"] == "Fail"
    assert start["client.address"] == "127.0.0.1"
    assert (end["rpc.grpc.status_code"], end["rpc.grpc.status"], end["error.type"]) == (
        5, "NOT_FOUND", "not_found")
    assert end["error.id"] == details(caught.value)["info"].metadata["id"]


async def test_debug_logs_switched_on_log_payloads_with_credentials_redacted(
        pb_grpc: ModuleType, pb: ModuleType) -> None:
    from bastion.testing import LogCapture

    logs = LogCapture()
    app = grpc_shop.build(logger=logs.logger)
    app.logger.debug_enabled = True  # what /debug?debug-logs=on does
    metadata = bearer("shop:read")
    async with serve_grpc(app) as served, grpc.aio.insecure_channel(served.target) as channel:
        await pb_grpc.ShopStub(channel).Get(pb.GetRequest(sku="dbg"), metadata=metadata)
    token = metadata[0][1].removeprefix("Bearer ")
    assert token not in logs.text  # nor in any other line the call wrote
    line = logs.find(msg="payload", method="get")
    assert line["payload"]["sku"] == "dbg" and line["payload"]["token"] == "REDACTED"
    assert logs.find(msg="result", method="get")["result"]["sku"] == "dbg"


async def test_a_secured_stream_checks_its_credential_once_and_knows_the_principal(
        stub: Any, pb: ModuleType) -> None:
    got = [(m.sku, m.qty) async for m in stub.Mine(pb.MineRequest(), metadata=bearer("shop:read"))]
    assert got == [("tester", 1), ("tester", 2)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.Mine(pb.MineRequest()):
            pass
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_x_debug_logs_gives_an_authorised_caller_its_own_debug_logs(
        pb_grpc: ModuleType, pb: ModuleType) -> None:
    from bastion.options import Debug
    from bastion.testing import LogCapture

    async def authorize(scope: dict[str, Any]) -> bool:
        return (b"x-debug-key", b"let-me") in scope["headers"]

    logs = LogCapture(level="info")
    app = grpc_shop.build(logger=logs.logger, debug=Debug(authorizer=authorize))
    async with serve_grpc(app) as served, grpc.aio.insecure_channel(served.target) as channel:
        stub = pb_grpc.ShopStub(channel)
        asked = [*bearer("shop:read"), ("x-debug-logs", "on")]
        await stub.Get(pb.GetRequest(sku="nokey"), metadata=asked)
        await stub.Get(pb.GetRequest(sku="withkey"),
                       metadata=[*asked, ("x-debug-key", "let-me")])
    payloads = [x["payload"]["sku"] for x in logs.lines if x.get("msg") == "payload"]
    assert payloads == ["withkey"]


async def test_behind_a_trusted_proxy_the_forwarded_client_is_the_client(
        pb_grpc: ModuleType, pb: ModuleType) -> None:
    from bastion.config import Config, load
    from bastion.testing import LogCapture

    logs = LogCapture(level="info")
    app = grpc_shop.build(logger=logs.logger, config=load(Config, {
        "TRUSTED_PROXIES": "127.0.0.1", "GRPC_ADDR": "", "ADMIN_ADDR": ""}))
    async with serve_grpc(app) as served, grpc.aio.insecure_channel(served.target) as channel:
        stub = pb_grpc.ShopStub(channel)
        await stub.Slow(pb.SlowRequest(), metadata=[("x-request-id", "via-proxy"),
                                                    ("x-forwarded-for", "203.0.113.7")])
    assert logs.find(msg="end", request_id="via-proxy")["client.address"] == "203.0.113.7"
