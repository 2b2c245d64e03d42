"""The gRPC DSL: GRPC(), Message, Metadata, Package, codes, and field numbers (Field, rpc:tag)."""

from __future__ import annotations

import pytest

from bastion.dsl import *
from tests.support.lines import next_line


def finalize_error(api: APIExpr) -> str:
    with pytest.raises(DesignError) as info:
        api.finalize()
    return str(info.value)


def at(line: int) -> str:
    return f"{__file__}:{line}: "


def test_field_and_its_credential_kin_keep_their_numbers() -> None:
    with API("a") as api:
        pass
    with Type("T") as t:
        Field(1, "x", Int, minimum=0)
        UsernameField(2, "user")
        PasswordField(3, "password")
        APIKeyField(4, "key_scheme", "key")
        TokenField(5, "token")
        AccessTokenField(6, "access", String)
        Attribute("y", Int, meta={"rpc:tag": "7"})
    attrs = t.object.attributes
    assert [attrs[n].meta["rpc:tag"] for n in ("x", "user", "password", "key", "token",
                                               "access")] == [1, 2, 3, 4, 5, 6]
    assert (attrs["user"].credential, attrs["key"].credential_scheme) == ("username",
                                                                          "key_scheme")
    assert attrs["x"].minimum == 0
    from bastion.dsl._grpc import rpc_tag

    assert rpc_tag(attrs["y"]) == 7
    del api


@pytest.mark.parametrize("tag", [0, -1, 19_500, 2**29, "x", True])
def test_a_field_number_protobuf_refuses_is_refused_at_the_call(tag: object) -> None:
    with API("a"):
        pass
    with Type("T"):
        line = next_line()
        with pytest.raises(DesignError) as info:
            Field(tag, "x", Int)  # type: ignore[arg-type]
    assert at(line + 1) in str(info.value)


def test_duplicate_field_numbers_in_a_type_name_both_attributes() -> None:
    with API("a") as api:
        pass
    with Type("T"):
        first = next_line()
        Field(1, "x", Int)
        second = next_line()
        Field(1, "y", Int)
    message = finalize_error(api)
    assert at(second) in message
    assert f"field number 1 of attribute 'y' is already used by attribute 'x' (at " \
           f"{__file__}:{first})" in message


def test_duplicate_numbers_given_as_meta_rpc_tag_are_found_too() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("x", Int, meta={"rpc:tag": ["3"]})  # Goa's Meta keeps a list
                line = next_line()
                Attribute("y", Int, meta={"rpc:tag": 3})
    message = finalize_error(api)
    assert at(line) in message and "field number 3" in message


def test_an_attribute_without_number_in_a_grpc_message_is_named_with_its_line() -> None:
    with API("a") as api:
        pass
    with Type("Order"):
        Field(1, "id", String)
        line = next_line()
        Attribute("amount", Float64)
    with Service("s"):
        with Method("show"):
            NoSecurity()
            with Payload():
                Token("token", String)  # credentials travel as metadata: no number needed
                Field(1, "order", "Order")
            with GRPC():
                pass
    message = finalize_error(api)
    assert at(line) in message
    assert "type 'Order': attribute 'amount' has no field number, which gRPC method 'show' " \
           "needs: declare it with Field(n, 'amount', ...)" in message
    assert "'token'" not in message


def test_a_oneof_in_a_grpc_message_is_refused_at_its_line() -> None:
    with API("a") as api:
        pass
    with Type("Pet") as pet:
        Field(1, "id", String)
        in_type = next_line()
        with OneOf("kind"):
            Attribute("cat", String)
            Attribute("dog", String)
    with Service("s"):
        with Method("adopt"):
            NoSecurity()
            with Payload():
                Field(1, "x", Int)
                in_payload = next_line()
                with OneOf("pet"):
                    Attribute("cat", String)
                    Attribute("dog", String)
            Result(pet)
            with GRPC():
                pass
        with Method("web"):  # the same union over HTTP only is fine
            NoSecurity()
            with Payload():
                with OneOf("pet"):
                    Attribute("cat", String)
            with HTTP():
                POST("/web")
    message = finalize_error(api)
    assert at(in_payload) + "payload of method 'adopt' of service 's': attribute 'pet' is a " \
        "OneOf union, which gRPC method 'adopt' cannot carry: no field number can be given " \
        "to it" in message
    assert at(in_type) + "type 'Pet': attribute 'kind' is a OneOf union" in message
    assert "has no field number" not in message
    assert "'web'" not in message


def test_types_not_used_over_grpc_need_no_numbers() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            NoSecurity()
            with Payload():
                Attribute("x", Int)
            with HTTP():
                POST("/m")
    api.finalize()


def test_error_mappings_must_name_declared_errors_at_every_level() -> None:
    with API("a") as api:
        with GRPC():
            api_line = next_line()
            Response("nope", CodeNotFound)
    with Service("s"):
        Error("known")
        with GRPC():
            svc_line = next_line()
            Response("unknown", CodeInternal)
        with Method("m"):
            NoSecurity()
            with GRPC():
                method_line = next_line()
                Response("missing", CodeAborted)
    message = finalize_error(api)
    for line in (api_line, svc_line, method_line):
        assert at(line) in message
    assert "GRPC Response maps error 'missing', which the method does not declare" in message


def test_grpc_response_misuse_is_refused_at_the_call() -> None:
    with API("a"):
        pass
    with Service("s"):
        with GRPC():
            with pytest.raises(DesignError, match="GRPC block of a Method"):
                Response(CodeOK)
            with pytest.raises(DesignError, match="not a gRPC code"):
                Response("x", 42)
        with Method("m"), GRPC():
            with pytest.raises(DesignError, match="sent with CodeOK, not NOT_FOUND"):
                Response(CodeNotFound)
            with pytest.raises(DesignError, match="Package must be called inside the GRPC "
                                                  "block of a Service"):
                Package("x")


def test_message_and_metadata_must_name_payload_attributes() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            NoSecurity()
            with Payload():
                Field(1, "x", Int)
                Attribute("blob", "T")
            with GRPC():
                line = next_line()
                Message("nope")
                both = next_line()
                Metadata("x")
                Message("x")
                bad_key = next_line()
                Metadata("blob:Bad Key")
    with Type("T"):
        Field(1, "a", Int)
    message = finalize_error(api)
    assert at(line) in message and "Message names 'nope', which is not a payload" in message
    assert at(both) in message and "'x' is both in the Message and in the Metadata" in message
    assert at(bad_key) in message and "is not a gRPC metadata key" in message
    assert "of type T cannot travel as metadata" in message


def test_two_credentials_on_one_metadata_key_are_refused() -> None:
    key = APIKeySecurity("k")
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            Security(key)
            with Payload():
                APIKey("k", "key", String)
                Attribute("other", String)
            with GRPC():
                line = next_line()
                Metadata("other:x-api-key")
    message = finalize_error(api)
    assert at(line) in message
    assert "are both read from metadata key 'x-api-key'" in message
    assert "'key'" in message and "'other'" in message


def test_bearer_and_basic_may_share_authorization() -> None:
    jwt = JWTSecurity("jwt")
    basic = BasicAuthSecurity("basic")
    with API("a") as api:
        pass
    with Service("s"):
        with Method("m"):
            Security(jwt)
            Security(basic)
            with Payload():
                Token("token")
                Username("user")
                Password("password")
            with GRPC():
                pass
    api.finalize()
    assert api.services["s"].methods["m"].grpc.metadata == {
        "token": "authorization", "user": "authorization", "password": "authorization"}


def test_a_stream_needs_a_transport_and_any_is_refused() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        with Method("ticker"):
            NoSecurity()
            line = next_line()
            StreamingResult(Int)
        with Method("both"):
            NoSecurity()
            StreamingPayload(Int)
            with HTTP():
                http = next_line()
                POST("/both")
            with GRPC():
                pass
        with Method("loose"):
            NoSecurity()
            with Payload():
                any_line = next_line()
                Field(1, "x", Any)
            with GRPC():
                pass
    message = finalize_error(api)
    assert at(line) in message and "'ticker' of service 's' streams" in message
    assert "add an HTTP() block" in message and "or a GRPC() block" in message
    # Over HTTP a stream is a WebSocket (or server-sent events): a GET route only.
    assert at(http) in message and "takes a GET route, not POST" in message
    assert at(any_line) in message and "which gRPC cannot carry" in message


def test_streaming_result_and_result_are_exclusive() -> None:
    with API("a"):
        pass
    with Service("s"), Method("m"):
        Result(Int)
        with pytest.raises(DesignError, match="StreamingResult and Result are both declared"):
            StreamingResult(Int)


def test_stream_kinds() -> None:
    with API("a") as api:
        pass
    with Service("s"):
        for name, pay, res in (("u", False, False), ("srv", False, True),
                               ("cli", True, False), ("bidi", True, True)):
            with Method(name):
                if pay:
                    StreamingPayload(Int)
                if res:
                    StreamingResult(Int)
    kinds = {m.name: m.stream_kind for m in api.methods()}
    assert kinds == {"u": None, "srv": "server", "cli": "client", "bidi": "bidirectional"}
