"""`Endpoints`: transport-free calls of a service's methods, wrapped by endpoint middleware."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import typing

import pytest

from bastion.dsl import *
from bastion.dsl.expr import ServiceExpr
from bastion.endpoint import REDACTED, Endpoints, ImplementationError, MethodInfo
from bastion.errors import AlreadyStarted
from bastion.schema.compile import TypeCompiler
from bastion.types import Endpoint

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def service() -> tuple[ServiceExpr, TypeCompiler]:
    with API("e") as api:
        pass
    with Service("s") as svc:
        with Method("echo"), Payload():
            Attribute("text", String)
        with Method("ping"):
            pass
        with Method("blocking"), Payload():
            Attribute("n", Int)
        with Method("login"), Payload():
            Username("user")
            Password("pass")
            Attribute("remember", Boolean)
    return svc, TypeCompiler(api)


class Impl:
    def __init__(self) -> None:
        self.threads: dict[str, int] = {}

    async def echo(self, p: typing.Any) -> typing.Any:
        self.threads["echo"] = threading.get_ident()
        return p

    async def ping(self) -> str:
        self.threads["ping"] = threading.get_ident()
        return "pong"

    def blocking(self, p: typing.Any) -> typing.Any:
        self.threads["blocking"] = threading.get_ident()
        return (p, request_id.get())

    def login(self, p: typing.Any) -> str:
        return "ok"


def endpoints(impl: object | None = None) -> tuple[Endpoints, typing.Any]:
    svc, compiler = service()
    impl = impl if impl is not None else Impl()
    return Endpoints(svc, impl, compiler), impl


async def test_endpoints_is_a_mapping_of_method_endpoints() -> None:
    eps, _ = endpoints()
    assert list(eps) == ["echo", "ping", "blocking", "login"]
    assert len(eps) == 4
    assert await eps["echo"]("hi") == "hi"
    assert await eps["ping"](None) == "pong"  # no payload: called without one
    with pytest.raises(KeyError):
        eps["nope"]


async def test_async_methods_run_on_the_loop_and_sync_ones_in_a_thread() -> None:
    eps, impl = endpoints()
    here = threading.get_ident()
    await eps["echo"](1)
    await eps["ping"](None)
    token = request_id.set("req-7")
    try:
        result = await eps["blocking"](5)
    finally:
        request_id.reset(token)
    assert impl.threads["echo"] == here and impl.threads["ping"] == here
    assert impl.threads["blocking"] != here
    assert result == (5, "req-7")  # the caller's context reaches the worker thread


async def test_sync_methods_run_concurrently() -> None:
    barrier = threading.Barrier(2, timeout=10)

    class Parallel(Impl):
        def blocking(self, p: typing.Any) -> typing.Any:
            barrier.wait()  # both calls must be in flight at once to pass
            return p

    eps, _ = endpoints(Parallel())
    results = await asyncio.gather(eps["blocking"](1), eps["blocking"](2))
    assert list(results) == [1, 2]


async def test_partials_and_async_callable_objects_are_awaited() -> None:
    class AsyncCallable:
        async def __call__(self, p: typing.Any) -> typing.Any:
            return ("callable", threading.get_ident())

    async def echo(prefix: str, p: typing.Any) -> typing.Any:
        return (prefix + str(p), threading.get_ident())

    class Impl2(Impl):
        pass

    impl = Impl2()
    impl.echo = functools.partial(echo, ">")  # type: ignore[method-assign]
    impl.blocking = AsyncCallable()  # type: ignore[method-assign]
    eps, _ = endpoints(impl)
    here = threading.get_ident()
    assert await eps["echo"](1) == (">1", here)
    assert await eps["blocking"](1) == ("callable", here)


async def test_middleware_first_used_is_outermost_and_sees_method_info() -> None:
    eps, _ = endpoints()
    calls: list[str] = []
    wrapped_for: list[tuple[str, str, str]] = []

    def tracer(tag: str) -> typing.Any:
        def mw(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
            wrapped_for.append((tag, info.service, info.name))

            async def wrapper(payload: typing.Any) -> typing.Any:
                calls.append(f"{tag}>")
                result = await endpoint(payload)
                calls.append(f"<{tag}")
                return f"{tag}({result})"

            return wrapper

        return mw

    eps.use(tracer("a"))
    eps.use(tracer("b"))
    assert await eps["echo"]("x") == "a(b(x))"
    assert calls == ["a>", "b>", "<b", "<a"]
    assert ("a", "s", "echo") in wrapped_for and ("b", "s", "login") in wrapped_for


async def test_inner_middleware_stays_inside_user_middleware() -> None:
    eps, _ = endpoints()
    order: list[str] = []

    def named(tag: str) -> typing.Any:
        def mw(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
            async def wrapper(payload: typing.Any) -> typing.Any:
                order.append(tag)
                return await endpoint(payload)

            return wrapper

        return mw

    eps.use(named("user1"))
    eps.use_inner(named("security"))  # added after a user middleware, still innermost
    eps.use(named("user2"))
    await eps["echo"](1)
    assert order == ["user1", "user2", "security"]


async def test_chains_are_built_once_and_later_middleware_is_refused() -> None:
    eps, _ = endpoints()
    built = []

    def shout(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
        built.append(info.name)

        async def wrapper(payload: typing.Any) -> typing.Any:
            return str(await endpoint(payload)).upper()

        return wrapper

    eps.use(shout)
    assert await eps["echo"]("x") == "X"
    assert await eps["echo"]("y") == "Y"
    assert built.count("echo") == 1  # each factory ran once per method, at the build
    with pytest.raises(AlreadyStarted, match="after the App started"):
        eps.use(shout)


def test_method_info_describes_the_method() -> None:
    svc, compiler = service()
    eps = Endpoints(svc, Impl(), compiler, payload_types={"echo": str}, result_types={"echo": int})
    info = eps.infos["echo"]
    assert (info.service, info.name) == ("s", "echo")
    assert info.expr is svc.methods["echo"]
    assert (info.payload_type, info.result_type) == (str, int)
    assert eps.infos["login"].credentials == frozenset({"user", "pass"})
    assert eps.infos["ping"].credentials == frozenset()


def test_redact_hides_every_credential() -> None:
    svc, compiler = service()
    eps = Endpoints(svc, Impl(), compiler)
    info = eps.infos["login"]
    redacted = info.redact({"user": "ada", "pass": "hunter2", "remember": True})
    assert redacted == {"user": REDACTED, "pass": REDACTED, "remember": True}
    assert info.redact({"user": None, "remember": False}) == {"user": None, "remember": False}
    assert eps.infos["echo"].redact({"text": "hi"}) == {"text": "hi"}


def test_missing_methods_are_all_named() -> None:
    svc, compiler = service()

    class Half:
        async def echo(self, p: typing.Any) -> typing.Any:
            return p

        ping = None

    with pytest.raises(ImplementationError) as info:
        Endpoints(svc, Half(), compiler)
    assert str(info.value) == (
        "service 's': implementation Half lacks method(s) 'ping', 'blocking', 'login' "
        "declared by the design"
    )


def test_method_info_is_the_one_home_of_sensitive_names() -> None:
    with API("pay") as api:
        pass
    with Type("Card") as card_type:
        Attribute("number", String, meta={"sensitive": True})
        Attribute("holder", String)
    with Service("pay"), Method("charge"):
        with Payload():
            Token("token", String)
            Attribute("card", card_type)
            Attribute("pin", String, meta={"sensitive": True})
            Attribute("note", String, meta={"sensitive": False, "owner": "billing"})
        with HTTP():
            POST("/charge")
            Param("pin:p")
    api.finalize()
    svc = api.services["pay"]
    eps = Endpoints(svc, type("Impl", (), {"charge": lambda self, p: None})(), TypeCompiler(api))
    info = eps.infos["charge"]
    assert info.credentials == frozenset({"token"})
    # Credentials, marked attributes at any depth, and the wire names they travel under.
    assert info.sensitive == frozenset({"token", "number", "pin", "p"})
    payload = {"token": "t", "card": {"number": "4111", "holder": "Ada"}, "pin": "1", "note": "x"}
    assert info.redact(payload) == {
        "token": REDACTED,
        "card": {"number": REDACTED, "holder": "Ada"},
        "pin": REDACTED,
        "note": "x",
    }
    assert REDACTED == "REDACTED"  # one marker for logs, spans and bodies
