"""Apps for tests that look at answers, not at logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bastion
from bastion.dsl import APIExpr
from bastion.testing import LogCapture


def quiet_app(api: APIExpr, services: Mapping[str, object], **kwargs: Any) -> bastion.App:
    """An `App` logging into a `LogCapture` (or the `logger` given), stdlib logs left alone.

    Pass `logger=logs.logger` to read its lines back with `logs.lines`.
    """
    kwargs.setdefault("logger", LogCapture(level="info").logger)
    kwargs.setdefault("observe", bastion.Observe(route_stdlib_logs=False))
    return bastion.App(api, services=services, **kwargs)
