"""A response the client does not read is cut at WRITE_TIMEOUT, and logged as what it was."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.server.bastion_app import SIZE
from tests.server.support import running_server
from tests.support.rawhttp import request_bytes

pytestmark = pytest.mark.integration


def test_a_response_blocked_on_a_client_that_does_not_read_is_cut_and_logged(
    tmp_path: Path,
) -> None:
    env = {"WRITE_TIMEOUT": "1s", "LOG_FORMAT": "json"}
    with running_server(tmp_path, env, app_ref="tests.server.bastion_app:app") as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(request_bytes("GET", "/big", {"X-Request-ID": "never-reads"}))
        deadline = time.monotonic() + 8.0  # WRITE_TIMEOUT, the grace, and room to spare
        while not _end_line(server.log) and time.monotonic() < deadline:
            time.sleep(0.1)
        sock.close()
        lines = [json.loads(x) for x in server.log.splitlines() if x.startswith("{")]
    end = next(x for x in lines if x.get("request_id") == "never-reads" and x["msg"] == "end")
    assert end["aborted"] is True
    size = end.get("http.response.body.size", end.get("http.bytes"))
    assert 0 < size < SIZE  # what the kernel took before the cut, not the whole body
    assert not any("Traceback" in json.dumps(x) for x in lines)


def _end_line(log: str) -> bool:
    return any('"never-reads"' in x and '"msg":"end"' in x for x in log.splitlines())
