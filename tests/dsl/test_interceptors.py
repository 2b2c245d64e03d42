"""The interceptor DSL: declaring, applying, Goa's order, and each misuse with its file:line."""

from __future__ import annotations

import pytest

from bastion.dsl import (
    API,
    GRPC,
    Attribute,
    ClientInterceptor,
    Description,
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
    Type,
    WritePayload,
    WriteResult,
    WriteStreamingResult,
)
from bastion.dsl._interceptors import applied, snake
from bastion.errors import DesignError
from tests.dsl.support import finalize_error
from tests.support.lines import at, next_line


def _records(*, service_level: str | None = "Audit") -> object:
    """A design with interceptors at every level, declared before the API by name."""
    with Interceptor("Audit"):
        Description("Audit every call")
        with ReadResult():
            Attribute("status")
    Interceptor("Trace")
    with API("records") as api:
        ServerInterceptor("Trace")
    with Service("records"):
        if service_level:
            ServerInterceptor(service_level)
        with Method("get"):
            with Interceptor("Cache") as cache:
                with ReadPayload():
                    Attribute("id")
                with WriteResult():
                    Attribute("cached_at")
            ServerInterceptor(cache)
            ClientInterceptor("Trace")
            with Payload():
                Attribute("id", String)
                Required("id")
            with Result():
                Attribute("id", String)
                Attribute("status", String)
                Attribute("cached_at", String)
        with Method("ping"), Result():
            Attribute("status", String)
    return api


def test_a_method_gets_its_own_its_services_and_the_apis_interceptors_by_goas_order() -> None:
    api = _records().finalize()  # type: ignore[attr-defined]
    get = api.services["records"].methods["get"]
    # Goa wraps by name: the name sorting last is outermost, so it runs first.
    assert [u.interceptor.name for u in applied(get)] == ["Trace", "Cache", "Audit"]
    assert [u.interceptor.name for u in applied(get, client=True)] == ["Trace"]
    assert api.interceptors["Audit"].description == "Audit every call"


def test_an_interceptor_applied_at_two_levels_runs_once() -> None:
    api = _records(service_level="Trace").finalize()  # type: ignore[attr-defined]
    get = api.services["records"].methods["get"]
    assert [u.interceptor.name for u in applied(get)] == ["Trace", "Cache"]


def test_an_interceptor_reading_no_payload_fits_a_method_without_one() -> None:
    api = _records().finalize()  # type: ignore[attr-defined]
    ping = api.services["records"].methods["ping"]
    assert [u.interceptor.name for u in applied(ping)] == ["Trace", "Audit"]


def test_an_interceptor_declared_inline_is_applied_and_named_by_the_design() -> None:
    with API("inline") as api:
        pass
    with Service("s"), Method("m"):
        ServerInterceptor(Interceptor("CheckUserID"))
    api.finalize()
    assert [u.interceptor.name for u in applied(api.services["s"].methods["m"])] == [
        "CheckUserID"]
    assert api.interceptors["CheckUserID"].method_name == "check_user_id"


def test_implementing_method_names_are_snake_case() -> None:
    assert [snake(n) for n in ("Cache", "JWTAuth", "SetDeadline", "tenant-check", "TraceV2")] \
        == ["cache", "jwt_auth", "set_deadline", "tenant_check", "trace_v2"]


def test_an_attribute_the_payload_lacks_is_named_with_its_line() -> None:
    with Interceptor("Tenant"):
        with ReadPayload():
            line = next_line()
            Attribute("tenant")
    with API("t") as api:
        pass
    with Service("s"):
        with Method("m"):
            ServerInterceptor("Tenant")
            with Payload():
                Attribute("id", String)
    msg = finalize_error(api)
    assert msg.startswith(at(line))
    assert "interceptor 'Tenant'" in msg and "reads payload attribute 'tenant'" in msg
    assert "method 'm' of service 's'" in msg and "its attributes: id" in msg


def test_writing_a_result_attribute_the_result_lacks_is_an_error() -> None:
    with API("t") as api:
        with Interceptor("Stamp"):
            with WriteResult():
                line = next_line()
                Attribute("stamped_at")
        ServerInterceptor("Stamp")
    with Service("s"):
        with Method("m"):
            with Result():
                Attribute("id", String)
    msg = finalize_error(api)
    assert msg.startswith(at(line)) and "writes result attribute 'stamped_at'" in msg


def test_payload_access_on_a_method_without_payload_is_an_error() -> None:
    with API("t") as api:
        with Interceptor("Tenant"):
            line = next_line()
            with ReadPayload():
                Attribute("tenant")
    with Service("s"):
        ServerInterceptor("Tenant")
        with Method("m"):
            pass
    msg = finalize_error(api)
    assert msg.startswith(at(line)) and "declares ReadPayload" in msg and "has no payload" in msg


def test_result_access_on_a_streamed_result_and_stream_access_on_a_unary_method() -> None:
    with API("t") as api:
        with Interceptor("Both"):
            result_line = next_line()
            with ReadResult():
                Attribute("n")
            stream_line = next_line()
            with ReadStreamingPayload():
                Attribute("n")
    with Service("s"):
        with Method("watch"):
            ServerInterceptor("Both")
            with StreamingResult():
                Field(1, "n", String)
            GRPC()
    msg = finalize_error(api)
    assert at(result_line) + "interceptor 'Both'" in msg and "streams its result" in msg
    assert at(stream_line) in msg and "has no streaming payload" in msg


def test_a_non_object_payload_cannot_be_read_by_attribute() -> None:
    with API("t") as api:
        with Interceptor("Peek"):
            line = next_line()
            with ReadPayload():
                Attribute("x")
    with Service("s"):
        with Method("m"):
            ServerInterceptor("Peek")
            Payload(String)
    msg = finalize_error(api)
    assert msg.startswith(at(line)) and "is not an object" in msg


def test_stream_access_is_checked_against_each_message() -> None:
    with API("t") as api:
        with Interceptor("Tag"):
            with WriteStreamingResult():
                line = next_line()
                Attribute("missing")
    with Service("s"):
        with Method("watch"):
            ServerInterceptor("Tag")
            with StreamingResult():
                Field(1, "n", String)
            GRPC()
    msg = finalize_error(api)
    assert msg.startswith(at(line)) and "writes streaming result attribute 'missing'" in msg


def test_read_payload_of_a_type_names_its_attributes() -> None:
    with API("t") as api:
        with Type("Keys") as keys:
            Attribute("id", String)
            Attribute("tenant", String)
        with Interceptor("All"):
            ReadPayload(keys)
    with Service("s"):
        with Method("m"):
            ServerInterceptor("All")
            with Payload():
                Attribute("id", String)
    msg = finalize_error(api)
    assert "reads payload attribute 'tenant'" in msg


def test_client_interceptors_are_checked_too() -> None:
    with API("t") as api:
        with Interceptor("Sign"):
            with WritePayload():
                line = next_line()
                Attribute("auth")
        ClientInterceptor("Sign")
    with Service("s"):
        with Method("m"):
            with Payload():
                Attribute("id", String)
    msg = finalize_error(api)
    assert msg.startswith(at(line)) and "writes payload attribute 'auth'" in msg


def test_two_interceptors_one_python_name_is_an_error() -> None:
    with API("t") as api:
        Interceptor("SetDeadline")
        Interceptor("set-deadline")
    with Service("s"):
        with Method("m"):
            line = next_line()
            ServerInterceptor("SetDeadline")
            ServerInterceptor("set-deadline")
    msg = finalize_error(api)
    # "set-deadline" sorts after "SetDeadline", so it is met first and the other is flagged.
    assert msg.startswith(at(line)) and "method 'set_deadline': rename one" in msg


def test_misuse_at_the_call_names_the_line() -> None:
    with API("t"):
        Interceptor("Cache")
        line = next_line()
        with pytest.raises(DesignError, match="is declared twice") as info:
            Interceptor("Cache")
        assert str(info.value).startswith(at(line + 1))
        with pytest.raises(DesignError, match=r"no interceptor is named .Nope.*declared: Cache"):
            ServerInterceptor("Nope")
        with pytest.raises(DesignError, match="at least one interceptor"):
            ServerInterceptor()
        with pytest.raises(DesignError, match="not an interceptor"):
            ServerInterceptor(42)
        with pytest.raises(DesignError, match="non-empty string"):
            Interceptor("")
        with pytest.raises(DesignError, match="ReadPayload must be called inside an Interceptor"):
            ReadPayload()
    with pytest.raises(DesignError, match="ServerInterceptor must be called inside"):
        ServerInterceptor("Cache")
    with API("u"), Interceptor("Twice"):
        ReadResult()
        with pytest.raises(DesignError, match="ReadResult is declared twice"):
            ReadResult()


def test_two_interceptors_of_one_name_cannot_both_be_applied() -> None:
    with API("t"):
        theirs = Interceptor("Cache")
    with API("v"):
        Interceptor("Cache")  # this design's own
        with pytest.raises(DesignError, match="two interceptors are named 'Cache'"):
            ServerInterceptor(theirs)


def test_streaming_payload_access_fits_a_client_stream() -> None:
    with API("t") as api:
        with Interceptor("Count"):
            with ReadStreamingPayload():
                Attribute("chunk")
    with Service("s"):
        with Method("upload"):
            ServerInterceptor("Count")
            with StreamingPayload():
                Field(1, "chunk", String)
            with Result():
                Field(1, "n", String)
            GRPC()
    api.finalize()
    assert [u.interceptor.name for u in applied(api.services["s"].methods["upload"])] == ["Count"]
