"""Loggers writing into memory, for tests of the Logger's own options.

A test of an App, a middleware or a library part reads its lines with the public
`bastion.testing.LogCapture` (or the `app_logs` fixture). Tests of the Logger itself
need options LogCapture does not take (a clock, a format, request buffering): they build
one here and read it back with `json_lines`.
"""

from __future__ import annotations

import io
import json
from typing import Any

from bastion.log import Logger


def memory_logger(**options: Any) -> tuple[Logger, io.StringIO]:
    """A `Logger(**options)` writing synchronously into a new StringIO; both returned."""
    stream = io.StringIO()
    return Logger(**{"stream": stream, "sync": True, **options}), stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written to `stream` so far, parsed as JSON."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]
