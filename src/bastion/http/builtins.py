"""The routes every App serves beside its design's: probes, OpenAPI, docs, and admin.

- `/livez`, `/readyz`, `/healthz`: the health checker's answers;
- the OpenAPI document and the docs page (Swagger UI from the App's own origin), both
  built on the first request and kept;
- with `Debug(mount="main")`, `/metrics` and `/debug/...` on the public port, behind the
  design's scheme, refused exactly as the API's methods are;
- `admin_app`, the admin listener's app: `/metrics`, `/debug`, the profiles and probes.

A built-in never shadows the design: when the design uses its path, it is left out and
a warning says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion._asgi import serve_lifespan
from bastion._ids import new_id
from bastion.debug._pprof import Profiling
from bastion.debug._switch import debug_app, is_debug_path
from bastion.errors import Forbidden, Unauthorized
from bastion.health._checker import PROBE_PATHS, Checker
from bastion.http.adminauth import SchemeGate
from bastion.http.autherrors import SecurityResponses
from bastion.http.errors import HTTPError, error_body
from bastion.http.muxer import Muxer, send_error, send_response
from bastion.http.router import RouteClash
from bastion.log import Logger
from bastion.otel._prometheus import metrics_app
from bastion.otel._telemetry import Telemetry
from bastion.security import RateLimited
from bastion.types import ASGIApp, ErrorNote, Receive, Scope, Send

if TYPE_CHECKING:
    from bastion.dsl.expr import APIExpr
    from bastion.openapi import DocsPage

__all__ = ["Builtins"]


class Builtins:
    """The built-in routes of one App, and its admin listener's app."""

    def __init__(
        self,
        api: APIExpr,
        *,
        title: str,
        checker: Checker,
        health: ASGIApp,
        telemetry: Telemetry,
        logger: Logger,
        profiling: Profiling,
        openapi_path: str | None,
        docs_path: str | None,
        debug_on_main: bool,
        gate: SchemeGate | None,
        answers: SecurityResponses,
    ) -> None:
        self.api = api
        self.title = title
        self.logger = logger
        self.openapi_path = openapi_path
        self.docs_path = docs_path if openapi_path else None
        self._health = health
        self._gate = gate
        self._answers = answers
        self._debug_on_main = debug_on_main
        self._openapi: dict[str, Any] | None = None
        #: The App's codecs as (media type, structured), for the document's bodies.
        self.media_types: list[tuple[str, bool]] | None = None
        self._openapi_json: bytes | None = None
        self._docs: DocsPage | None = None
        self.admin_app: ASGIApp = _admin_app(metrics_app(telemetry),
                                             debug_app(logger, profiling=profiling), health)
        self.checker = checker

    @property
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the design (made once)."""
        if self._openapi is None:
            from bastion.openapi import spec

            self._openapi = spec(self.api, self.media_types)
        return self._openapi

    def mount(self, muxer: Muxer) -> None:
        """Add every built-in route to `muxer`, save those the design uses itself."""
        routes: list[tuple[str, Any, str]] = [
            (path, self._serve_health, "health") for path in sorted(PROBE_PATHS)
        ]
        if self._debug_on_main:
            routes += [("/metrics", self._serve_admin, "metrics"),
                       ("/debug", self._serve_admin, "debug"),
                       ("/debug/{*rest}", self._serve_admin, "debug")]
        if self.openapi_path:
            routes.append((self.openapi_path, self._serve_openapi, "openapi"))
        if self.docs_path:
            routes.append((self.docs_path, self._serve_docs, "docs"))
            routes.append((self.docs_path.rstrip("/") + "/{*asset}", self._serve_docs, "docs"))
        for path, handler, name in routes:
            try:
                muxer.mount("GET", path, handler, name)
            except RouteClash:
                # The design's own route wins: built-ins never shadow what users declared.
                self.logger.write_line("warn", "built-in route left out: the design uses it",
                                       {"http.route": f"GET {path}", "builtin": name})

    async def _serve_health(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        await self._health(scope, receive, send)

    async def _serve_openapi(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        if self._openapi_json is None:
            from bastion.openapi import to_json

            self._openapi_json = to_json(self.openapi)
        await send_response(send, 200, [(b"content-type", b"application/json")],
                            self._openapi_json, scope)

    async def _serve_docs(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        if self._docs is None:
            # Built on the first visit (it reads Swagger UI's files), then kept.
            from bastion.openapi import DocsPage

            self._docs = DocsPage(self.api, docs_path=self.docs_path or "/docs",
                                  spec_path=self.openapi_path or "/openapi.json",
                                  title=self.title)
        found = self._docs.find(params.get("asset", ""))
        if found is None:
            err = HTTPError(404, "not_found", f"no such file: {scope['path']}")
            await send_error(send, 404, err.body(), [], scope, error=ErrorNote(err.name, err.id))
            return
        await send_response(send, 200, list(found.headers), found.body, scope)

    async def _serve_admin(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        # On the public port, /metrics and /debug sit behind the design's debug scheme,
        # checked and refused exactly as the API's methods are.
        gate = self._gate
        if gate is not None:
            try:
                await gate.check(scope)
            except (Unauthorized, Forbidden, RateLimited) as exc:
                answer = self._answers(exc)
                if answer is None:  # pragma: no cover - every refusal has an answer
                    raise
                status, name, message, headers = answer
                error_id = new_id()
                await send_error(send, status, error_body(name, error_id, message), headers,
                                 scope, error=ErrorNote(name, error_id, exc))
                return
        await self.admin_app(scope, receive, send)


def _admin_app(metrics: ASGIApp, debug: ASGIApp, health: ASGIApp) -> ASGIApp:
    """The admin listener's app: metrics, the debug switch and profiles, and probes."""

    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Under another ASGI server the admin app may be sent a lifespan: only ack it.
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            await metrics(scope, receive, send)
        elif is_debug_path(path) or path.startswith("/debug/"):
            await debug(scope, receive, send)
        else:
            await health(scope, receive, send)

    return admin
