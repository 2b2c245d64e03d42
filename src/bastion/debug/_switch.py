"""Debug endpoints and debug logging, Clue's `debug` package for Bastion.

- `debug_app`: `/debug?debug-logs=on|off` switches the App logger's debug lines at run
  time and answers `{"debug-logs": "on"}`; `/debug/pprof/...` serves the profiles of
  `bastion.debug._pprof`.
- `debug_header_enabled`: per-request debug logs for authorised callers that send
  `X-Debug-Logs: on`.
- `payload_logger`: endpoint middleware logging each call's payload and result, every
  sensitive value redacted, when debug logs are on.

None of this should be open to the world: mount `debug_app` on the admin listener, or on
the main port with an `authorize` callable that applies a security scheme of the design.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec

from bastion import log
from bastion._asgi import (
    drain_body,
    header,
    local_path,
    method_not_allowed,
    query,
    respond_error,
    respond_json,
)
from bastion.debug._pprof import Profiling, is_pprof_path, pprof_app
from bastion.errors import ConfigError, Forbidden, Unauthorized
from bastion.log._context import bind_call
from bastion.redact import Redactor
from bastion.types import ASGIApp, Endpoint, Receive, Scope, Send

__all__ = [
    "DEBUG_HEADER",
    "DEBUG_PATH",
    "Authorize",
    "PayloadMethodInfo",
    "debug_app",
    "debug_header_enabled",
    "is_debug_path",
    "payload_logger",
]

#: Where `debug_app` serves the debug-logs switch.
DEBUG_PATH = "/debug"
#: The request header that asks for debug logs for one request (value `on`).
DEBUG_HEADER = "X-Debug-Logs"
#: The query parameter of the switch, as in Clue.
DEBUG_LOGS_PARAM = "debug-logs"

#: Decides whether a request may use debug features; may raise Unauthorized or Forbidden.
Authorize = Callable[[Scope], Awaitable[bool]]

_HEADER_KEY = DEBUG_HEADER.lower().encode()


class PayloadMethodInfo(Protocol):
    """What `payload_logger` needs to know of a method (the framework's MethodInfo has it)."""

    @property
    def service(self) -> str:
        """The service name."""
        ...

    @property
    def name(self) -> str:
        """The method name."""
        ...

    def redact(self, payload: Any) -> Any:
        """Return the payload as JSON-able builtins, credentials replaced by "REDACTED"."""
        ...

    def dump_result(self, result: Any) -> Any:
        """Return the result as JSON-able builtins."""
        ...


def debug_app(
    logger: log.Logger,
    *,
    authorize: Authorize | None = None,
    profiling: Profiling | None = None,
) -> ASGIApp:
    """Return an ASGI app serving `/debug` and `/debug/pprof/...`; 404 for other paths.

    `logger` is the App's logger, whose `debug_enabled` switch `/debug` flips. With
    `authorize`, every request must pass it (False or Forbidden: 403, Unauthorized: 401);
    without it anyone who reaches the app may use it, which is right only on the admin
    listener. `profiling` holds the profiler state (a fresh one by default).
    """
    pprof = pprof_app(profiling or Profiling())

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = local_path(scope)
        is_switch = path in (DEBUG_PATH, DEBUG_PATH + "/")
        if not is_switch and not is_pprof_path(path):
            await respond_error(scope, send, 404, "not found")
            return
        if authorize is not None:
            try:
                allowed = await authorize(scope)
            except Unauthorized as err:
                await respond_error(scope, send, 401, err.message)
                return
            except Forbidden as err:
                await respond_error(scope, send, 403, err.message)
                return
            if not allowed:
                await respond_error(scope, send, 403, "forbidden")
                return
        if not is_switch:
            await pprof(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "POST", "PUT"):
            await method_not_allowed(scope, send, "GET, POST, PUT")
            return
        await drain_body(receive)
        value = query(scope).get(DEBUG_LOGS_PARAM)
        if value is not None:
            value = value.strip().lower()
            if value not in ("on", "off"):
                await respond_error(scope, send, 400, f'{DEBUG_LOGS_PARAM} must be "on" or "off"')
                return
            enabled = value == "on"
            if logger.debug_enabled != enabled:
                logger.debug_enabled = enabled
                # An audit trail: who turned debug on matters when logs grow or leak.
                logger.write_line("info", "debug logs switched", {DEBUG_LOGS_PARAM: value})
        state = "on" if logger.debug_enabled else "off"
        await respond_json(scope, send, 200, {DEBUG_LOGS_PARAM: state})

    return app


def is_debug_path(path: str) -> bool:
    """Return whether `debug_app` serves `path` (`/debug` and `/debug/pprof/...`)."""
    return path in (DEBUG_PATH, DEBUG_PATH + "/") or is_pprof_path(path)


async def debug_header_enabled(scope: Scope, authorize: Authorize | None) -> bool:
    """Return whether this request asks for its own debug logs and may have them.

    True when the request carries `X-Debug-Logs: on` and `authorize(scope)` is true. With
    no `authorize`, nobody may: per-request debug is never open to the world. A refusal
    (False, Unauthorized, Forbidden) only means no debug logs; the request goes on.
    """
    value = header(scope, _HEADER_KEY)
    if value is None or value.strip().lower() != b"on" or authorize is None:
        return False
    try:
        return bool(await authorize(scope))
    except PermissionError:  # Unauthorized and Forbidden both derive from it
        return False


def payload_logger(
    max_size: int = 1024,
    *,
    redactor: Redactor | None = None,
    bind: bool = False,
) -> Callable[[Endpoint, PayloadMethodInfo], Endpoint]:
    """Return endpoint middleware logging `payload=` before and `result=` after each call.

    Lines are written only when debug logs are on (the switch, the level, or the
    request's header); the check costs one context lookup, and nothing is serialised
    otherwise. Sensitive values read "REDACTED": credentials and the design's sensitive
    attributes (via `method_info.redact`), and every name `redactor` knows (the App's:
    the defaults and LOG_REDACT). Values are logged as JSON (`null`, numbers, objects);
    longer than `max_size` bytes of JSON they are cut, with a marker. No result line is
    written when the call raises.

    `bind=True` also binds `service` and `method` for the rest of the request, as
    `bastion.endpoint.logfields.log_fields` does, in the same layer and the same context
    lookup: the App's one logging layer per call (a layer is a coroutine per call).
    """
    if max_size < 1:
        raise ConfigError([f"payload_logger max_size must be at least 1 byte, got {max_size}"])
    encode = msgspec.json.Encoder(enc_hook=str).encode
    scrub = redactor.data if redactor is not None else None

    def loggable(value: Any) -> Any:
        if scrub is not None:
            value = scrub(value)
        try:
            data = encode(value)
        except Exception as err:
            return f"<not serialisable: {type(err).__name__}>"
        if len(data) <= max_size:
            # Values go to the logger as data, so JSON lines nest them as JSON.
            return value if isinstance(value, (dict, list, str, int, float, bool)) or (
                value is None
            ) else data.decode()
        cut = max_size
        while cut > 0 and data[cut] & 0xC0 == 0x80:  # stay on a UTF-8 character boundary
            cut -= 1
        return data[:cut].decode() + f"…[truncated {len(data) - cut} bytes]"

    def middleware(endpoint: Endpoint, method_info: PayloadMethodInfo) -> Endpoint:
        service, method = method_info.service, method_info.name
        redact, dump_result = method_info.redact, method_info.dump_result

        async def logged(payload: Any) -> Any:
            if not (bind_call(service, method) if bind else log.debug_enabled()):
                return await endpoint(payload)
            log.debug("payload", service=service, method=method, payload=loggable(redact(payload)))
            result = await endpoint(payload)
            log.debug(
                "result", service=service, method=method, result=loggable(dump_result(result))
            )
            return result

        return logged

    return middleware
