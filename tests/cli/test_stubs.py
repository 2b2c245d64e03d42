"""`bastion gen stubs`: the example's own service type-checks against its generated stubs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from examples.orders.design import api as orders_api

from bastion.cli.stubs import render
from tests.support.every_scheme import api as things_api
from tests.support.paths import ROOT

# Implementations checked against the stubs: the example's, one per kind of handler,
# and three that must be refused (a missing auth handler, a wrong result, a wrong payload).
GOOD = """
from examples.orders.service import Health, Orders
from orders_stubs import HealthService, OrdersService
from tests.support.every_scheme import Things
from things_stubs import ThingsService

def orders(impl: Orders) -> OrdersService:
    return impl

def health(impl: Health) -> HealthService:
    return impl

def things(impl: Things) -> ThingsService:
    return impl
"""
BAD = """
from typing import Any

import bastion
from orders_stubs import HealthService, OrdersService

class NoKeyHandler:
    def create(self, p: Any) -> dict[str, Any]: raise NotImplementedError
    def show(self, p: Any) -> dict[str, Any]: raise NotImplementedError
    def list(self, p: Any) -> dict[str, Any]: raise NotImplementedError
    def cancel(self, p: Any) -> dict[str, Any]: raise NotImplementedError
    def jwt_auth(self, token: str, scheme: bastion.JWTScheme) -> bastion.Principal:
        raise NotImplementedError

class PingsAnInt:
    async def ping(self) -> int: raise NotImplementedError

class WrongPayload(NoKeyHandler):
    def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme) -> bastion.Principal:
        raise NotImplementedError
    def show(self, p: int) -> dict[str, Any]: raise NotImplementedError

def no_key_handler(impl: NoKeyHandler) -> OrdersService:
    return impl  # line 23

def pings_an_int(impl: PingsAnInt) -> HealthService:
    return impl  # line 26

def wrong_payload(impl: WrongPayload) -> OrdersService:
    return impl  # line 29
"""


def test_stubs_declare_sync_or_async_methods_and_the_auth_handlers() -> None:
    text = render(orders_api)
    assert "MaybeAwaitable: TypeAlias = _T | Awaitable[_T]" in text
    assert ("    def create(self, p: OrdersCreatePayload, /) -> "
            "MaybeAwaitable[Order | Mapping[str, Any]]:") in text
    assert ("    def jwt_auth(self, token: str, scheme: bastion.JWTScheme, /) -> "
            "MaybeAwaitable[bastion.Principal]:") in text
    assert "    def api_key_auth(self, key: str, scheme: bastion.APIKeyScheme, /)" in text
    health = text[text.index("class HealthService(Protocol):"):]
    assert "_auth(" not in health  # the health service's method is public: no handler
    # A default is filled in by the runtime: the attribute is never None.
    assert "    page: int = 1\n" in text
    things = render(things_api)
    assert ("    def basic_auth(self, username: str, password: str, "
            "scheme: bastion.BasicScheme, /)") in things
    assert "    def oauth2_auth(self, token: str, scheme: bastion.OAuth2Scheme, /)" in things


def test_the_example_service_type_checks_against_its_stubs(tmp_path: Path, mypy_cache: str) -> None:
    (tmp_path / "orders_stubs.py").write_text(render(orders_api))
    (tmp_path / "things_stubs.py").write_text(render(things_api))
    (tmp_path / "check_good.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "check_bad.py").write_text(textwrap.dedent(BAD).lstrip())
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", mypy_cache,
         "--no-error-summary", "--hide-error-context",
         *(str(tmp_path / f) for f in ("orders_stubs.py", "things_stubs.py",
                                        "check_good.py", "check_bad.py"))],
        check=False, capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"MYPYPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    # The stubs, the example's service (mypy follows its import) and every good
    # implementation are clean; each bad one is refused at its own line.
    assert {line.split(":")[0] for line in errors} == {str(tmp_path / "check_bad.py")}, (
        checked.stdout)
    assert {int(line.split(":")[1]) for line in errors} == {23, 26, 29}, checked.stdout
    assert "api_key_auth" in checked.stdout  # named as the missing protocol member


def test_stubs_name_each_view_and_let_methods_pick_one() -> None:
    from examples.cellar.design import api as cellar_api

    source = render(cellar_api)
    namespace: dict[str, object] = {}
    exec(compile(source, "cellar_stubs.py", "exec"), namespace)  # the stubs are valid Python
    # Each view is its class; a method picking its view may return bastion.Viewed.
    assert "class StoredBottleTiny(msgspec.Struct" in source
    assert "def show(self, p: StorageShowPayload, /) -> MaybeAwaitable[StoredBottle | " \
        "Mapping[str, Any] | bastion.Viewed]:" in source
    assert 'def list(self) -> MaybeAwaitable[builtins.list["StoredBottleTiny"]]:' in source
    tiny = namespace["StoredBottleTiny"]
    assert getattr(tiny, "__struct_fields__", ()) == ("id", "name", "winery")


INTERCEPTORS_GOOD = """
from typing import Any

import bastion
from records_stubs import (
    RecordsCacheInfo,
    RecordsServerInterceptors,
    RecordsTenantCheckInfo,
    RecordsTraceBidirectionalStreamInfo,
    RecordsTraceRequestInfo,
)

class Interceptors:
    async def cache(self, info: RecordsCacheInfo, next: bastion.Next) -> Any:
        key: str = info.payload().recordID
        result = await next(info.raw_payload)
        info.result(result).cachedAt = key
        return result

    async def tenant_check(self, info: RecordsTenantCheckInfo, next: bastion.Next) -> Any:
        p = info.payload()
        return p.tenant == p.tenantID

    async def trace_request(self, info: RecordsTraceRequestInfo, next: bastion.Next) -> Any:
        p = info.payload()
        p.traceID = "trace"
        return p.traceID

    async def trace_bidirectional_stream(self, info: RecordsTraceBidirectionalStreamInfo,
                                         next: bastion.Next) -> Any:
        if info.call_type == "streaming_recv":
            message = await next(info.raw_payload)
            info.streaming_payload(message).traceID = "in"
            return message
        sent: str | None = info.streaming_result().traceID
        return sent

def interceptors(impl: Interceptors) -> RecordsServerInterceptors:
    return impl
"""

INTERCEPTORS_BAD = """
from records_stubs import RecordsCacheInfo, RecordsServerInterceptors, RecordsTenantCheckInfo

def reads(info: RecordsCacheInfo) -> object:
    return info.payload().tenant  # line 4: Cache does not declare it

def writes(info: RecordsTenantCheckInfo) -> None:
    info.payload().tenant = "x"  # line 7: TenantCheck only reads it

class Missing:
    async def cache(self, info: RecordsCacheInfo, next: object) -> object:
        return None

def missing(impl: Missing) -> RecordsServerInterceptors:
    return impl  # line 14: tenant_check and trace_request are missing
"""


def test_interceptor_stubs_type_check_exactly_the_declared_access(
    tmp_path: Path, mypy_cache: str
) -> None:
    from examples.records.design import api as records_api

    stubs = render(records_api)
    assert "class RecordsServerInterceptors(Protocol):" in stubs
    assert "async def tenant_check(self, info: RecordsTenantCheckInfo, next: bastion.Next, /)" \
        in stubs
    (tmp_path / "records_stubs.py").write_text(stubs)
    (tmp_path / "check_good.py").write_text(textwrap.dedent(INTERCEPTORS_GOOD))
    (tmp_path / "check_bad.py").write_text(textwrap.dedent(INTERCEPTORS_BAD).lstrip())
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", mypy_cache,
         "--no-error-summary", "--hide-error-context",
         *(str(tmp_path / f) for f in ("records_stubs.py", "check_good.py", "check_bad.py"))],
        check=False, capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"MYPYPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert {line.split(":")[0] for line in errors} == {str(tmp_path / "check_bad.py")}, (
        checked.stdout)
    assert {int(line.split(":")[1]) for line in errors} == {4, 7, 14}, checked.stdout


def test_streaming_methods_are_typed_as_the_runtime_calls_them(
    tmp_path: Path, mypy_cache: str
) -> None:
    from examples.chat.design import api as chat_api

    source = render(chat_api)
    # A server stream is an async generator; a client stream takes the stream last.
    assert ("    def talk(self, p: ChatTalkPayload, stream: bastion.endpoint.streams.Stream"
            "[Say], /) -> AsyncIterator[Line | Mapping[str, Any]]:") in source
    assert "    def ticks(self, p: ChatTicksPayload, /) -> AsyncIterator[Tick |" in source
    assert ("    def tally(self, p: ChatTallyPayload, stream: bastion.endpoint.streams.Stream"
            "[Say], /) -> Awaitable[ChatTallyResult | Mapping[str, Any]]:") in source
    (tmp_path / "chat_stubs.py").write_text(source)
    (tmp_path / "check_chat.py").write_text(textwrap.dedent("""
        from chat_stubs import ChatService
        from examples.chat.service import Chat

        def chat(impl: Chat) -> ChatService:
            return impl
    """))
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", mypy_cache,
         "--no-error-summary", str(tmp_path / "chat_stubs.py"), str(tmp_path / "check_chat.py")],
        check=False, capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"MYPYPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    assert checked.returncode == 0, checked.stdout
