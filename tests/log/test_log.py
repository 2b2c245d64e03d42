"""The context logger: formats, key order, context fields, buffering, debug, OTel ids."""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from bastion import log
from bastion.errors import ConfigError
from bastion.log._state import EMPTY, STATE, State
from tests.support.logs import json_lines, memory_logger

T0 = 1795857098.123  # 2026-11-28T09:11:38.123Z


def fixed(*times: float) -> Callable[[], float]:
    """A clock returning `times` in turn, then the last one forever."""
    it: Iterator[float] = iter(times)
    last = [times[0]]

    def clock() -> float:
        last[0] = next(it, last[0])
        return last[0]

    return clock


def make(**kw: object) -> tuple[log.Logger, io.StringIO]:
    return memory_logger(**{"clock": fixed(T0), **kw})


# -- formats -----------------------------------------------------------------------------


def test_json_golden_line() -> None:
    logger, out = make(format="json", service="orders")
    with log.use(logger), log.RequestContext(fields={"request_id": "r-1"}):
        log.info("processing order", order_id=42, amount=12.5, paid=True, note=None)
    assert out.getvalue() == (
        '{"time":"2026-11-28T09:11:38.123Z","level":"info","msg":"processing order",'
        '"request_id":"r-1","service.name":"orders","order_id":42,"amount":12.5,"paid":true,'
        '"note":null}\n'
    )


def test_logfmt_golden_line() -> None:
    logger, out = make(format="logfmt")
    with log.use(logger):
        log.error(ValueError("amount < 0"), "failed to process order", order_id=42, tag="a=b")
    assert out.getvalue() == (
        'time=2026-11-28T09:11:38.123Z level=error msg="failed to process order" '
        'err="ValueError: amount < 0" order_id=42 tag="a=b"\n'
    )


def test_terminal_golden_lines_show_seconds_since_start() -> None:
    logger, out = make(format="terminal", clock=fixed(1000.0, 1003.7, 1012.2), level="debug")
    with log.use(logger):
        log.info("listening", addr="127.0.0.1:8080")
        log.debug("tick", n=1)
    assert out.getvalue() == (
        "INFO[0003] msg=listening addr=127.0.0.1:8080\nDEBG[0012] msg=tick n=1\n"
    )


def test_terminal_format_uses_colours_when_forced() -> None:
    logger, out = make(format="terminal", color=True, level="debug")
    with log.use(logger):
        log.debug("d")
        log.info("i", k="v")
        log.warn("w")
        log.error(None, "e")
    assert out.getvalue().splitlines() == [
        "\x1b[37mDEBG\x1b[0m[0000] \x1b[37mmsg\x1b[0m=d",
        "\x1b[34mINFO\x1b[0m[0000] \x1b[34mmsg\x1b[0m=i \x1b[34mk\x1b[0m=v",
        "\x1b[33mWARN\x1b[0m[0000] \x1b[33mmsg\x1b[0m=w",
        "\x1b[31mERRO\x1b[0m[0000] \x1b[31mmsg\x1b[0m=e",
    ]


def test_terminal_without_a_tty_has_no_colours_and_json_is_the_default() -> None:
    plain, plain_out = make(format="terminal")
    auto, auto_out = make()
    assert auto.format == "json"
    with log.use(plain):
        log.info("x")
    with log.use(auto):
        log.info("x")
    assert "\x1b[" not in plain_out.getvalue()
    assert json_lines(auto_out)[0]["msg"] == "x"


def test_a_real_tty_gets_the_coloured_terminal_format() -> None:
    master, replica = os.openpty()
    stream = open(replica, "w", encoding="utf-8")  # noqa: SIM115 -- closed below
    try:
        logger = log.Logger(stream=stream, clock=fixed(T0), sync=True)
        assert logger.format == "terminal"
        with log.use(logger):
            log.info("hello")
        ready, _, _ = select.select([master], [], [], 5)
        assert ready
        assert "\x1b[34mINFO\x1b[0m[0000]" in os.read(master, 4096).decode()
    finally:
        stream.close()
        os.close(master)


def test_values_cannot_break_a_line_or_inject_escapes() -> None:
    logger, out = make(format="logfmt")
    with log.use(logger):
        log.info("multi\nline", evil="\x1b[31mred\nINFO fake", empty="", text="a b")
    line = out.getvalue()
    assert line.count("\n") == 1
    assert "\x1b" not in line
    assert 'msg="multi\\nline"' in line
    assert 'empty="" text="a b"' in line


def test_structured_values_exceptions_and_objects() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing!"

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    logger, out = make()
    with log.use(logger):
        log.info("v", items=[1, "a"], conf={"k": 1}, obj=Thing(), bad=Broken(), exc=KeyError())
    (line,) = json_lines(out)
    assert line["items"] == [1, "a"]
    assert line["conf"] == {"k": 1}
    assert line["obj"] == "thing!"
    assert str(line["bad"]).startswith("<unprintable ")
    assert str(line["bad"]).endswith("Broken>")
    assert line["exc"] == "KeyError"


# -- key order and fields ----------------------------------------------------------------


def test_standard_keys_lead_in_order_then_fields_in_insertion_order() -> None:
    logger, out = make(service="orders")
    with log.use(logger):
        log.bind(zeta=1, request_id="r-9")
        with log.fields(alpha=2, method="create"):
            log.info(
                "done",
                **{"http.response.status_code": 200, "http.request.method": "POST", "beta": 3,
                   "zeta": 10},
                level="x",
            )
            log.error(OSError("disk"), "failed", service="billing")
    done, failed = json_lines(out)
    assert list(done) == [
        "time", "level", "msg", "request_id", "service.name", "method", "http.request.method",
        "http.response.status_code", "zeta", "alpha", "beta", "fields.level",
    ]  # fmt: skip
    assert done["zeta"] == 10  # the call's value wins, the bound key keeps its place
    assert done["level"] == "info" and done["fields.level"] == "x"
    assert list(failed)[:8] == [
        "time", "level", "msg", "err", "request_id", "service.name", "service", "method",
    ]  # fmt: skip
    # The API (the Logger's service) and the design's service are two keys, never mixed.
    assert failed["service.name"] == "orders" and failed["service"] == "billing"

    assert failed["err"] == "OSError: disk"


def test_err_passed_as_a_field_takes_the_standard_place() -> None:
    logger, out = make()
    with log.use(logger):
        log.warn("retrying", attempt=2, err=TimeoutError("read"))
    (warned,) = json_lines(out)
    assert list(warned) == ["time", "level", "msg", "err", "attempt"]
    assert warned["err"] == "TimeoutError: read"


def test_fields_scope_ends_and_bind_ends_with_it() -> None:
    logger, out = make()
    with log.use(logger):
        with log.fields(a=1):
            log.bind(b=2)
            log.info("inside")
        log.info("outside")
    inside, outside = json_lines(out)
    assert inside["a"] == 1 and inside["b"] == 2
    assert "a" not in outside and "b" not in outside


async def test_bind_is_isolated_between_asyncio_tasks() -> None:
    logger, out = make()

    async def handle(user: str) -> None:
        log.bind(user=user)
        await asyncio.sleep(0.01)
        log.info("handled", who=user)

    with log.use(logger):
        await asyncio.gather(*(handle(f"u{i}") for i in range(10)))
        log.info("parent")
    records = json_lines(out)
    handled = [r for r in records if r["msg"] == "handled"]
    assert len(handled) == 10
    assert all(r["user"] == r["who"] for r in handled)
    assert "user" not in records[-1]


def test_long_values_are_truncated_with_a_marker() -> None:
    logger, out = make(max_value_size=100)
    with log.use(logger):
        log.info(
            "t",
            ascii="x" * 3100,
            utf8="é" * 100,
            odd="a" + "é" * 100,
            listed=["y" * 200],
            short="ok",
        )
    (line,) = json_lines(out)
    assert line["ascii"] == "x" * 100 + "…[truncated 3000 bytes]"
    # 100 bytes of two-byte characters: 50 characters kept, cut on a character boundary.
    assert line["utf8"] == "é" * 50 + "…[truncated 100 bytes]"
    # Byte 100 falls inside a character: the cut steps back rather than split it.
    assert line["odd"] == "a" + "é" * 49 + "…[truncated 102 bytes]"
    assert isinstance(line["listed"], str) and line["listed"].startswith('["yyy')
    assert line["listed"].endswith("…[truncated 104 bytes]")
    assert line["short"] == "ok"


def test_default_max_value_size_is_1024_bytes() -> None:
    logger, out = make()
    with log.use(logger):
        log.info("t", v="z" * 1024, w="z" * 1025)
    (line,) = json_lines(out)
    assert line["v"] == "z" * 1024
    assert line["w"] == "z" * 1024 + "…[truncated 1 bytes]"


# -- OpenTelemetry -----------------------------------------------------------------------


def test_lines_inside_a_span_carry_trace_and_span_ids() -> None:
    provider = TracerProvider()  # local: no global provider is set
    tracer = provider.get_tracer("test")
    logger, out = make()
    try:
        with log.use(logger):
            log.info("before")
            span = tracer.start_span("op")
            with trace.use_span(span, end_on_exit=True):
                log.info("inside", k=1)
                child = tracer.start_span("child")
                with trace.use_span(child, end_on_exit=True):
                    log.info("child")
            log.info("after")
    finally:
        provider.shutdown()
    before, inside, in_child, after = json_lines(out)
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert len(str(inside["trace_id"])) == 32 and len(str(inside["span_id"])) == 16
    assert list(inside) == ["time", "level", "msg", "trace_id", "span_id", "k"]
    assert in_child["trace_id"] == inside["trace_id"]
    assert in_child["span_id"] == f"{child.get_span_context().span_id:016x}"
    assert "trace_id" not in before and "trace_id" not in after


# -- request buffering -------------------------------------------------------------------


def test_buffered_request_writes_held_lines_before_the_error() -> None:
    logger, out = make(buffer_requests=True, level="debug")
    with log.use(logger), log.RequestContext(fields={"request_id": "r-1"}):
        log.info("step 1")
        log.debug("step 2")
        assert out.getvalue() == ""
        log.error(RuntimeError("boom"), "failed")
        log.info("after the error")  # once flushed, the request logs straight out
    assert [(r["level"], r["msg"]) for r in json_lines(out)] == [
        ("info", "step 1"),
        ("debug", "step 2"),
        ("error", "failed"),
        ("info", "after the error"),
    ]
    assert all(r["request_id"] == "r-1" for r in json_lines(out))


def test_buffered_request_without_error_drops_held_lines() -> None:
    logger, out = make(buffer_requests=True)
    with log.use(logger):
        with log.RequestContext(fields={"request_id": "r-1"}):
            log.info("held")
            log.warn("slow")
            log.print("request end", **{"http.status": 200})
        log.info("outside any request")
    assert [r["msg"] for r in json_lines(out)] == ["slow", "request end", "outside any request"]


def test_print_is_written_whatever_the_level_and_never_held() -> None:
    logger, out = make(buffer_requests=True, level="error")
    with log.use(logger), log.RequestContext():
        log.info("no")
        log.warn("no")
        log.print("yes", k=1)
        assert [r["msg"] for r in json_lines(out)] == ["yes"]


def test_exception_escaping_a_buffered_request_writes_held_lines() -> None:
    logger, out = make(buffer_requests=True)
    with log.use(logger), pytest.raises(KeyError):
        with log.RequestContext(fields={"request_id": "r-2"}):
            log.info("evidence")
            raise KeyError("x")
    assert [r["msg"] for r in json_lines(out)] == ["evidence"]


def test_write_line_respects_level_but_is_never_held() -> None:
    logger, out = make(buffer_requests=True, level="info")
    with log.use(logger), log.RequestContext(fields={"request_id": "r-3"}):
        logger.write_line("info", "request start", {"http.method": "GET", "http.url": "/x"})
        logger.write_line("debug", "hidden", {})
    (start,) = json_lines(out)
    assert list(start) == ["time", "level", "msg", "request_id", "http.method", "http.url"]
    with pytest.raises(ValueError, match="log level 'loud'"):
        logger.write_line("loud", "x", {})


def test_clue_buffering_holds_warn_too_and_writes_it_on_error() -> None:
    logger, out = make(buffer_requests=log.Buffering.CLUE)
    with log.use(logger):
        with log.RequestContext(fields={"request_id": "ok"}):
            log.info("held")
            log.warn("held too, as Clue does")
        with log.RequestContext(fields={"request_id": "bad"}):
            log.warn("slow upstream")
            log.error(None, "failed")
    assert [(r["msg"], r["request_id"]) for r in json_lines(out)] == [
        ("slow upstream", "bad"),
        ("failed", "bad"),
    ]


def test_clue_buffering_is_off_in_a_sampled_request_only() -> None:
    provider = TracerProvider()  # samples everything
    tracer = provider.get_tracer("test")
    logger, out = make(buffer_requests=log.Buffering.CLUE)
    unsampled = trace.NonRecordingSpan(
        trace.SpanContext(0x1F, 0x2F, is_remote=True, trace_flags=trace.TraceFlags(0))
    )
    try:
        with log.use(logger):
            with (tracer.start_as_current_span("sampled"),
                  log.RequestContext(fields={"request_id": "t"})):
                assert log.is_tracing()
                log.info("written: the request is traced")
            with trace.use_span(unsampled), log.RequestContext(fields={"request_id": "u"}):
                assert not log.is_tracing()
                log.info("held: not sampled")
    finally:
        provider.shutdown()
    assert [r["msg"] for r in json_lines(out)] == ["written: the request is traced"]


def test_log_flush_writes_what_the_request_held_and_stops_holding() -> None:
    logger, out = make(buffer_requests=True)
    with log.use(logger):
        log.flush()  # outside a request: nothing to do
        with log.RequestContext(fields={"request_id": "r-5"}):
            log.info("one")
            assert out.getvalue() == ""
            log.flush()
            assert [r["msg"] for r in json_lines(out)] == ["one"]
            log.info("two")  # no longer held
        assert [r["msg"] for r in json_lines(out)] == ["one", "two"]


def test_a_request_context_is_a_with_block_that_keeps_held_lines_on_failure() -> None:
    logger, out = make(buffer_requests=True)
    with log.use(logger):
        with pytest.raises(OSError), log.RequestContext(logger, {"request_id": "r-7"}) as context:
            assert isinstance(context, log.RequestContext)
            log.info("kept: the block failed")
            raise OSError("x")
    assert [(r["msg"], r["request_id"]) for r in json_lines(out)] == [
        ("kept: the block failed", "r-7")
    ]


# -- what each line carries ----------------------------------------------------------------


def test_file_location_names_the_callers_file_and_line() -> None:
    logger, out = make(file_location=True)
    with log.use(logger):
        log.info("here"); line = sys._getframe().f_lineno  # noqa: E702
        logger.write_line("warn", "there", {})
    here, there = json_lines(out)
    assert here["file"] == f"log/test_log.py:{line}"
    assert there["file"] == f"log/test_log.py:{line + 1}"


def test_key_functions_add_pairs_to_every_entry() -> None:
    tenant = {"id": "t-1"}
    calls = []

    def tenant_key() -> dict[str, object]:
        calls.append(1)
        return {"tenant": tenant["id"]}

    logger, out = make(funcs=[tenant_key, lambda: [("pid", 7)]], buffer_requests=True)
    with log.use(logger):
        log.info("a", k=1)
        with log.RequestContext(fields={"request_id": "r"}):
            log.info("held, keyed when logged")
            tenant["id"] = "t-2"
            log.error(None, "b")
    assert [(r["msg"], r["tenant"], r["pid"]) for r in json_lines(out)] == [
        ("a", "t-1", 7), ("held, keyed when logged", "t-1", 7), ("b", "t-2", 7),
    ]  # fmt: skip
    assert len(calls) == 3


def test_log_redact_names_reach_the_loggers_redactor() -> None:
    logger = log.Logger.from_env({"LOG_REDACT": " card_number , ,ssn"}, stream=io.StringIO())
    assert logger.redactor.is_sensitive("Card-Number") and logger.redactor.is_sensitive("SSN")
    assert logger.redactor.is_sensitive("token")  # the defaults stay


# -- debug switches ----------------------------------------------------------------------


def test_process_debug_switch_turns_debug_lines_on_and_off() -> None:
    logger, out = make(level="info")
    with log.use(logger):
        log.debug("off")
        assert not log.debug_enabled()
        logger.debug_enabled = True
        assert log.debug_enabled()
        log.debug("on")
        logger.debug_enabled = False
        log.debug("off again")
    assert [r["msg"] for r in json_lines(out)] == ["on"]


def test_per_request_debug_applies_to_that_request_only() -> None:
    logger, out = make(level="info", buffer_requests=True)
    with log.use(logger):
        with log.RequestContext(fields={"request_id": "dbg"}, debug=True):
            assert log.debug_enabled()
            log.debug("visible")
            log.info("not held either")
        with log.RequestContext(fields={"request_id": "plain"}):
            assert not log.debug_enabled()
            log.debug("invisible")
    assert [(r["msg"], r["request_id"]) for r in json_lines(out)] == [
        ("visible", "dbg"),
        ("not held either", "dbg"),
    ]


def test_level_is_settable_and_validated() -> None:
    logger, out = make(level="warn")
    with log.use(logger):
        log.info("no")
        logger.level = "INFO"
        log.info("yes")
    assert logger.level == "info"
    assert [r["msg"] for r in json_lines(out)] == ["yes"]
    with pytest.raises(ConfigError, match="log level 'chatty'"):
        logger.level = "chatty"


# -- configuration -----------------------------------------------------------------------


def test_from_env_overrides_format_and_level() -> None:
    out = io.StringIO()
    logger = log.Logger.from_env(
        {"LOG_FORMAT": "logfmt", "LOG_LEVEL": "Debug"}, stream=out, level="error", sync=True
    )
    assert (logger.format, logger.level) == ("logfmt", "debug")
    colour = log.Logger.from_env({"LOG_FORMAT": "terminal", "FORCE_COLOR": "1"}, stream=out)
    with log.use(colour):
        log.info("c")
    colour.flush()
    assert "\x1b[34m" in out.getvalue()


def test_from_env_lists_every_bad_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        log.Logger.from_env({"LOG_FORMAT": "xml", "LOG_LEVEL": "loud"})
    assert len(caught.value.problems) == 2
    assert "LOG_FORMAT='xml'" in str(caught.value)
    assert "LOG_LEVEL='loud'" in str(caught.value)


def test_constructor_rejects_bad_options() -> None:
    with pytest.raises(ConfigError, match="log format 'yaml'"):
        log.Logger(format="yaml")
    with pytest.raises(ConfigError, match="max_value_size 0"):
        log.Logger(max_value_size=0)


def test_two_loggers_do_not_share_state() -> None:
    first, first_out = make(level="debug", service="a")
    second, second_out = make(level="warn", service="b")
    first.debug_enabled = True
    with log.use(first):
        log.info("to first")
        with log.use(second):
            assert log.current() is second
            assert not log.debug_enabled()
            log.info("dropped by second's level")
            log.warn("to second")
        log.debug("first again")
    assert not second.debug_enabled
    assert [(r["msg"], r["service.name"]) for r in json_lines(first_out)] == [
        ("to first", "a"),
        ("first again", "a"),
    ]
    assert [(r["msg"], r["service.name"]) for r in json_lines(second_out)] == [("to second", "b")]


async def test_loggers_in_concurrent_tasks_stay_apart() -> None:
    first, first_out = make()
    second, second_out = make()

    async def run(logger: log.Logger, name: str) -> None:
        with log.use(logger):
            for i in range(5):
                log.info(name, i=i)
                await asyncio.sleep(0)

    await asyncio.gather(run(first, "one"), run(second, "two"))
    assert {r["msg"] for r in json_lines(first_out)} == {"one"}
    assert {r["msg"] for r in json_lines(second_out)} == {"two"}


def test_current_without_use_is_one_lazily_created_default() -> None:
    assert log.current() is log.current()
    assert isinstance(log.current(), log.Logger)


# -- writer --------------------------------------------------------------------------------


def test_flush_waits_for_the_writer_thread_and_close_keeps_later_lines() -> None:
    out = io.StringIO()
    logger = log.Logger(stream=out, format="json")
    with log.use(logger):
        for i in range(200):
            log.info("queued", i=i)
        logger.flush()
        assert [r["i"] for r in json_lines(out)] == list(range(200))
        log.info("last queued")
        logger.close()
        assert json_lines(out)[-1]["msg"] == "last queued"
        log.info("after close")  # written synchronously from now on
    assert json_lines(out)[-1]["msg"] == "after close"
    assert logger.dropped == 0


@pytest.mark.integration
def test_fatal_logs_flushes_and_exits_with_status_1() -> None:
    script = textwrap.dedent(
        """
        from bastion import log
        logger = log.Logger(format="json")
        with log.use(logger):
            log.info("starting")
            try:
                log.fatal(ConnectionError("db down"), "cannot start", db="orders")
            finally:
                print("finally must not run")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["msg"] for r in records] == ["starting", "cannot start"]
    assert records[1]["level"] == "error"
    assert records[1]["err"] == "ConnectionError: db down"
    assert records[1]["db"] == "orders"


def test_a_context_state_is_compared_by_identity_and_shows_no_field_value() -> None:
    secret = "tok-3f9a7c"
    with log.fields(token=secret):
        state = STATE.get()
        same = State(state.logger, dict(state.fields), state.buffer, state.debug, state.flat)
        assert state is not same and state != same and len({state, same}) == 2
        assert secret not in repr(state) and "1 fields" in repr(state)
    assert STATE.get() is EMPTY
