"""`bastion.testing.LogCapture`: what a user's test sees of the App's logs."""

from __future__ import annotations

from typing import Any

import pytest

import bastion
from bastion.dsl import API, GET, HTTP, Method, Result, Service, String
from bastion.testing import LogCapture, TestClient


async def test_log_capture_sees_request_and_method_lines() -> None:
    logs = LogCapture()
    with API("cap") as api:
        pass
    with Service("s"), Method("hello"):
        Result(String)
        with HTTP():
            GET("/hello")

    class S:
        async def hello(self) -> Any:
            bastion.log.info("saying hello", to="world")
            return "hello"

    app = bastion.App(api, {"s": S()}, logger=logs.logger)
    async with TestClient(app) as client:
        r = await client.get("/hello")
    line = logs.find(msg="saying hello")
    assert line["to"] == "world"
    assert line["service"] == "s" and line["method"] == "hello"
    assert line["request_id"] == r.headers["x-request-id"]
    assert logs.find(msg="end")["http.response.status_code"] == 200
    with pytest.raises(AssertionError):
        logs.find(msg="never logged")
