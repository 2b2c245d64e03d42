"""Stdlib `logging` routed through the context logger."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bastion import log
from tests.support.logs import json_lines, memory_logger


@pytest.fixture
def routed() -> Iterator[tuple[log.Logger, io.StringIO]]:
    logger, out = memory_logger(format="json", buffer_requests=True)
    uninstall = log.route_stdlib(logger)
    try:
        yield logger, out
    finally:
        uninstall()


def test_library_records_get_the_context_fields_and_logger_name(
    routed: tuple[log.Logger, io.StringIO],
) -> None:
    logger, out = routed
    library = logging.getLogger("somelib.client")
    with log.use(logger), log.RequestContext(fields={"request_id": "r-7"}, debug=True):
        log.bind(method="show")
        library.info("connected to %s", "db:5432", extra={"attempt": 2})
        library.warning("slow")
    connected, slow = json_lines(out)
    assert list(connected) == [
        "time", "level", "msg", "request_id", "method", "logger", "attempt",
    ]  # fmt: skip
    assert connected["msg"] == "connected to db:5432"
    assert connected["request_id"] == "r-7"
    assert connected["logger"] == "somelib.client"
    assert connected["attempt"] == 2
    assert slow["level"] == "warn"


def test_library_exceptions_carry_err_and_stack(routed: tuple[log.Logger, io.StringIO]) -> None:
    _, out = routed
    try:
        raise ValueError("bad frame")
    except ValueError:
        logging.getLogger("somelib").exception("decode failed")
    (line,) = json_lines(out)
    assert line["level"] == "error"
    assert line["err"] == "ValueError: bad frame"
    stack = str(line["exception.stacktrace"])
    assert "Traceback" in stack and "bad frame" in stack


def test_library_info_is_held_in_a_buffered_request_until_an_error(
    routed: tuple[log.Logger, io.StringIO],
) -> None:
    logger, out = routed
    library = logging.getLogger("somelib")
    with log.use(logger):
        with log.RequestContext(fields={"request_id": "ok"}):
            library.info("held then dropped")
        with log.RequestContext(fields={"request_id": "bad"}):
            library.info("held then written")
            library.error("broke")
    assert [(r["msg"], r["request_id"]) for r in json_lines(out)] == [
        ("held then written", "bad"),
        ("broke", "bad"),
    ]


def test_debug_records_follow_the_root_level_and_the_logger_level() -> None:
    logger, out = memory_logger(format="json", level="warn")
    uninstall = log.route_stdlib(logger, level=logging.DEBUG)
    try:
        library = logging.getLogger("somelib")
        library.debug("below the logger's level")
        library.info("below too")
        logger.debug_enabled = True
        library.debug("debug switched on")
    finally:
        uninstall()
    assert [r["msg"] for r in json_lines(out)] == ["debug switched on"]


def test_uninstall_removes_the_handler_and_restores_the_root_level() -> None:
    root = logging.getLogger()
    before_level, before_handlers = root.level, list(root.handlers)
    out = io.StringIO()
    uninstall = log.route_stdlib(log.Logger(stream=out, sync=True), level=logging.DEBUG)
    assert root.level == logging.DEBUG
    assert any(isinstance(h, log.StdlibHandler) for h in root.handlers)
    uninstall()
    uninstall()  # harmless twice
    assert root.level == before_level
    assert root.handlers == before_handlers
    logging.getLogger("somelib").warning("not routed any more")
    assert out.getvalue() == ""


def test_library_lines_are_redacted_like_bastions_own(
    routed: tuple[log.Logger, io.StringIO],
) -> None:
    _, out = routed
    secret = "s3cr3t-0123456789"
    library = logging.getLogger("httpx")
    library.warning(
        'HTTP Request: %s %s "%s"', "GET", f"http://h/p?api%5Fkey={secret}&n=1", "HTTP/1.1 200 OK"
    )
    logging.getLogger("somelib").error(
        "login failed", extra={"password": secret, "url": f"https://u:{secret}@h/"}
    )
    try:
        raise ValueError(f"bad token={secret}")
    except ValueError:
        logging.getLogger("somelib").exception("decode failed")
    request, failed, decode = json_lines(out)
    assert request["msg"] == 'HTTP Request: GET http://h/p?api%5Fkey=REDACTED&n=1 "HTTP/1.1 200 OK"'
    assert failed["password"] == "REDACTED" and failed["url"] == "https://REDACTED:REDACTED@h/"
    assert decode["err"] == "ValueError: bad token=REDACTED"
    assert secret not in out.getvalue()
