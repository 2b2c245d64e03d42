"""Output options of the context logger: outputs, custom formats, key names, caps."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from bastion import log
from bastion.errors import ConfigError
from tests.support.logs import json_lines, memory_logger

T0 = 1795857098.123  # 2026-11-28T09:11:38.123Z


def make(**kw: Any) -> tuple[log.Logger, io.StringIO]:
    return memory_logger(**{"format": "json", "clock": lambda: T0, **kw})


# -- outputs and formats ------------------------------------------------------------------------


def test_several_outputs_each_with_its_own_format(tmp_path: Path) -> None:
    screen = io.StringIO()
    with open(tmp_path / "service.log", "w", encoding="utf-8") as file:
        logger = log.Logger(
            outputs=[
                log.Output(file, format="json"),
                log.Output(screen, format="terminal", color=False),
            ],
            clock=lambda: T0,
        )
        with log.use(logger):
            log.info("listening", addr="127.0.0.1:8080")
            log.error(ValueError("boom"), "failed")
        logger.flush()
        assert logger.format == "json"
        logger.close()
    records = [json.loads(x) for x in (tmp_path / "service.log").read_text().splitlines()]
    assert [(r["level"], r["msg"]) for r in records] == [("info", "listening"), ("error", "failed")]
    assert screen.getvalue().splitlines() == [
        "INFO[0000] msg=listening addr=127.0.0.1:8080",
        'ERRO[0000] msg=failed err="ValueError: boom"',
    ]


def test_a_custom_format_gets_the_entry_with_capped_values() -> None:
    seen: list[log.Entry] = []

    def pipes(entry: log.Entry) -> str:
        seen.append(entry)
        fields = " | ".join(f"{k}={v}" for k, v in entry.fields)
        return f"{entry.level.upper()} {entry.msg} | {fields}"

    logger, out = make(format=pipes, max_value_size=32, max_items=2)
    with log.use(logger):
        log.warn("slow", ms=1500, path="/a/very/long/path/that/goes/on/and/on", ids=[1, 2, 3, 4])
    assert out.getvalue() == (
        "WARN slow | ms=1500 | path=/a/very/long/path/that/goes/on/a…[truncated 5 bytes] | "
        "ids=[1, 2, '…[2 more items]']\n"
    )
    assert logger.format == "custom"
    (entry,) = seen
    assert entry.time == T0 and entry.level == "warn"


def test_a_custom_format_that_raises_does_not_lose_the_entry() -> None:
    def broken(entry: log.Entry) -> str:
        raise KeyError("oops")

    logger, out = make(format=broken)
    with log.use(logger):
        log.info("kept", n=1)
    (line,) = json_lines(out)
    assert (line["msg"], line["n"]) == ("kept", 1)
    assert line["log.format_error"] == "KeyError: 'oops'"


def test_options_are_checked_together() -> None:
    with pytest.raises(ConfigError) as caught:
        log.Logger(
            outputs=[log.Output(io.StringIO(), format="yaml")],
            stream=io.StringIO(),
            keys="splunk",
            max_keys=0,
        )
    text = str(caught.value)
    assert "'yaml'" in text and "'splunk'" in text and "max_keys" in text and "outputs" in text


# -- key names ---------------------------------------------------------------------------------


def test_gcp_keys_name_severity_and_message_as_cloud_logging_reads_them() -> None:
    logger, out = make(keys="gcp")
    with log.use(logger):
        log.warn("disk almost full", free=3)
    assert out.getvalue() == (
        '{"time":"2026-11-28T09:11:38.123Z","severity":"WARNING","message":"disk almost full",'
        '"free":3}\n'
    )


def test_ecs_keys_follow_the_elastic_common_schema() -> None:
    logger, out = make(keys=log.Keys.ECS, service="orders")
    with log.use(logger), log.RequestContext(fields={"request_id": "r-1"}):
        log.error(OSError("disk"), "write failed", **{log.STACK_KEY: "Traceback ..."})
    (line,) = json_lines(out)
    assert list(line)[:3] == ["@timestamp", "log.level", "message"]
    assert line["error.message"] == "OSError: disk"
    assert line["error.stack_trace"] == "Traceback ..."
    assert line["http.request.id"] == "r-1" and line["service.name"] == "orders"


def test_keys_from_a_mapping_and_from_log_keys() -> None:
    logger, out = make(keys={"msg": "message", "request_id": "rid"}, format="logfmt")
    with log.use(logger), log.RequestContext(fields={"request_id": "r-2"}):
        log.info("hi")
    assert out.getvalue() == "time=2026-11-28T09:11:38.123Z level=info message=hi rid=r-2\n"
    assert log.Logger.from_env({"LOG_KEYS": "GCP"}, stream=io.StringIO()).keys == log.Keys.GCP
    with pytest.raises(ConfigError, match="LOG_KEYS"):
        log.Logger.from_env({"LOG_KEYS": "splunk"})


# -- caps ---------------------------------------------------------------------------------------


def test_keys_per_line_are_capped_with_a_count_of_what_was_left_out() -> None:
    logger, out = make(max_keys=3)
    with log.use(logger):
        log.info("wide", **{f"k{i}": i for i in range(10)})
    (line,) = json_lines(out)
    assert [k for k in line if k not in ("time", "level", "msg")] == [
        "k0", "k1", "k2", "log.dropped_keys",
    ]  # fmt: skip
    assert line["log.dropped_keys"] == 7


def test_list_and_dict_values_are_capped_by_items() -> None:
    logger, out = make(max_items=3)
    with log.use(logger):
        log.info("many", ids=list(range(100)), tags={f"t{i}": i for i in range(5)}, few=[1, 2])
    (line,) = json_lines(out)
    assert line["ids"] == [0, 1, 2, "…[97 more items]"]
    assert line["tags"] == {"t0": 0, "t1": 1, "t2": 2, "…": "…[2 more items]"}
    assert line["few"] == [1, 2]


def test_a_stack_may_be_longer_than_other_values() -> None:
    logger, out = make(max_value_size=100, max_stack_size=5000)
    stack = "Traceback (most recent call last):\n" + "  frame\n" * 800
    with log.use(logger):
        log.error(None, "failed", **{log.STACK_KEY: stack, "other": "y" * 400})
    (line,) = json_lines(out)
    assert line[log.STACK_KEY] == stack[:5000] + f"…[truncated {len(stack) - 5000} bytes]"
    assert line["other"] == "y" * 100 + "…[truncated 300 bytes]"
