"""`App`: one design and its service implementations, served as an ASGI 3 application.

Creating an `App` compiles everything a request needs — route table, decoders,
encoders, endpoint chains, error tables — so a bad design or a service missing a
method fails at startup, not on the first request.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from bastion import log
from bastion._asgi import ack_lifespan
from bastion.debug._pprof import Profiling
from bastion.debug._switch import debug_app, is_debug_path, payload_logger
from bastion.dsl.expr import APIExpr
from bastion.endpoint import Endpoints, ImplementationError
from bastion.endpoint.logfields import log_fields
from bastion.health._checker import PROBE_PATHS, Checker, CheckFunc, Pinger, health_app
from bastion.http.autherrors import SecurityResponses
from bastion.http.decoder import Decoder
from bastion.http.encoder import ResultEncoder
from bastion.http.muxer import Muxer, send_response
from bastion.http.requestlog import DebugAuthorizer, RequestLog
from bastion.http.router import RouteClash
from bastion.otel._prometheus import metrics_app
from bastion.otel._telemetry import Telemetry, configure
from bastion.otel._tracing import TracingMiddleware
from bastion.schema.compile import TypeCompiler
from bastion.schema.formats import enc_hook
from bastion.schema.validate import Collector
from bastion.security import AuthFailure, RateLimiter, RateLimits, handlers_for, secure
from bastion.security.design import rate_limits, requirements, scheme_kinds
from bastion.types import ASGIApp, HTTPMiddleware, Receive, Scope, Send

if TYPE_CHECKING:
    from bastion.config import Config

__all__ = ["App", "Lifespan"]

#: A user lifespan: called with the app, returns an async context manager wrapping serving.
Lifespan = Callable[["App"], contextlib.AbstractAsyncContextManager[Any]]

DEFAULT_MAX_BODY_BYTES = 1 << 20


class App:
    """Serve `api` with `services` (a mapping from service name to its implementation).

    `app.use(mw)` adds HTTP (ASGI) middleware, the first added outermost;
    `app.endpoints["svc"].use(mw)` adds endpoint middleware.
    """

    def __init__(
        self,
        api: APIExpr,
        services: Mapping[str, object],
        *,
        version: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        lifespan: Lifespan | None = None,
        openapi_path: str | None = "/openapi.json",
        docs_path: str | None = "/docs",
        logger: log.Logger | None = None,
        request_log: bool = True,
        route_stdlib_logs: bool = True,
        debug_authorizer: DebugAuthorizer | None = None,
        redis_url: str | None = None,
        limiter: RateLimiter | None = None,
        limits: RateLimits | None = None,
        telemetry: Telemetry | None = None,
        tracing: bool = True,
        checks: Iterable[Pinger | CheckFunc] = (),
        health_cache_ttl: float = 1.0,
        payload_log_max: int = 1024,
        debug_mount: Literal["admin", "main"] = "admin",
        debug_scheme: str | None = None,
        debug_scopes: Iterable[str] = (),
        config: Config | None = None,
        observability: bool = True,
    ) -> None:
        self.api = api.finalize()
        self.config = config
        if config is not None:
            max_body_bytes = config.max_body_bytes
            redis_url = redis_url or config.redis_url
        self.title = api.title or api.name
        self.version = version or api.version
        self.max_body_bytes = max_body_bytes
        self.openapi_path = openapi_path
        self.docs_path = docs_path
        self.draining = False
        self._lifespan = lifespan
        if logger is None and config is not None:
            fmt = None if config.log_format == "auto" else config.log_format
            logger = log.Logger(level=config.log_level, format=fmt, service=api.name)
        self.logger = logger or log.Logger.from_env(service=api.name)
        self._owns_telemetry = telemetry is None
        self.telemetry = telemetry or configure(api.name, self.version)
        self.tracing = tracing and observability
        self.request_log = request_log and observability
        self.checker = Checker(*checks, cache_ttl=health_cache_ttl, logger=self.logger,
                               tracer=self.telemetry.tracer)
        self._health = health_app(self.checker, version=self.version,
                                  is_draining=lambda: self.draining)
        self.profiling = Profiling()
        self.route_stdlib_logs = route_stdlib_logs
        self.debug_authorizer = debug_authorizer
        #: Called with every `AuthFailure` after it is logged (metrics hook in here).
        self.auth_failure_hooks: list[Callable[[AuthFailure], None]] = []
        self._middleware: list[HTTPMiddleware] = []
        unknown = set(services) - set(api.services)
        if unknown:
            raise ImplementationError(
                f"services {sorted(unknown)} are not in design {api.name!r} "
                f"(its services: {sorted(api.services)})"
            )
        missing = [name for name in api.services if name not in services]
        if missing:
            raise ImplementationError(
                f"no implementation given for service(s) {missing} of design {api.name!r}: "
                "pass them as App(api, services={name: impl})"
            )
        self.compiler = TypeCompiler(api)
        self.encoder = msgspec.json.Encoder(enc_hook=enc_hook)
        collector = Collector(self.compiler)
        self.decoders: dict[tuple[str, str], Decoder | None] = {}
        self.encoders: dict[tuple[str, str], ResultEncoder] = {}
        self.endpoints: dict[str, Endpoints] = {}
        for svc in api.services.values():
            payload_types: dict[str, Any] = {}
            result_types: dict[str, Any] = {}
            for m in svc.methods.values():
                dec = None
                if m.payload is not None and m.http is not None:
                    dec = Decoder(m, self.compiler, collector, max_body_bytes=max_body_bytes)
                    payload_types[m.name] = dec.payload_type
                enc = ResultEncoder(m, self.compiler, self.encoder)
                result_types[m.name] = enc.result_type
                self.decoders[(svc.name, m.name)] = dec
                self.encoders[(svc.name, m.name)] = enc
            self.endpoints[svc.name] = Endpoints(
                svc, services[svc.name], self.compiler, payload_types, result_types
            )
            if observability:
                self.endpoints[svc.name].use(log_fields)
                self.endpoints[svc.name].use(payload_logger(payload_log_max))
        self.limiter = limiter or RateLimiter(redis_url)
        self.limits = limits or self._limits_from(config)
        self._services = dict(services)
        self._secured = self._secure(services)
        self._debug_authorize = self._design_authorizer(debug_scheme, tuple(debug_scopes))
        if self.debug_authorizer is None and self._debug_authorize is not None:
            self.debug_authorizer = self._debug_authorize
        self.debug_mount = debug_mount
        if debug_mount == "main" and self._debug_authorize is None:
            raise ImplementationError(
                "debug_mount='main' serves /debug and /metrics on the public port: name the "
                "design's security scheme that protects them with debug_scheme="
            )
        self.admin_app: ASGIApp = self._build_admin()
        self._app: ASGIApp = self._build_muxer()

    # -- composition ----------------------------------------------------------------

    def use(self, middleware: HTTPMiddleware) -> None:
        """Add HTTP middleware `middleware(app) -> app`; the first added is outermost."""
        self._middleware.append(middleware)
        self._app = self._wrap(self._muxer)

    def _limits_from(self, config: Config | None) -> RateLimits:
        """The design's limits, with RATE_LIMITS and AUTH_FAILURES_* from `config` on top."""
        if config is None:
            return rate_limits(self.api)
        from bastion.config._settings import parse_rate_limits

        design = rate_limits(self.api)
        per_scheme = dict(design.per_scheme)
        per_method = dict(design.per_method)
        methods = {f"{m.service.name}.{m.name}" for m in self.api.methods()}
        for name, limit in parse_rate_limits(config.rate_limits).items():
            if name in self.api.schemes:
                per_scheme[name] = limit
            elif name in methods:
                per_method[name] = limit
            else:
                raise ImplementationError(
                    f"RATE_LIMITS names {name!r}, which is neither a scheme nor a method "
                    f"(service.method) of design {self.api.name!r}"
                )
        return RateLimits(
            per_scheme=per_scheme,
            per_method=per_method,
            failures_per_client=config.auth_failures_per_client or None,
            failures_per_credential=config.auth_failures_per_credential or None,
        )

    def _secure(self, services: Mapping[str, object]) -> set[tuple[str, str]]:
        """Put the security layer inside every secured or rate-limited endpoint."""
        secured: set[tuple[str, str]] = set()
        for svc in self.api.services.values():
            kinds = scheme_kinds(self.api, svc.name)
            handlers = handlers_for(services[svc.name], kinds, service_name=svc.name)
            reqs = {m.name: requirements(m) for m in svc.methods.values()}
            for m in svc.methods.values():
                if reqs[m.name] or f"{svc.name}.{m.name}" in self.limits.per_method:
                    secured.add((svc.name, m.name))

            def layer(endpoint: Any, info: Any, reqs: Any = reqs, handlers: Any = handlers) -> Any:
                return secure(
                    endpoint,
                    reqs[info.name],
                    handlers,
                    method_name=f"{info.service}.{info.name}",
                    on_failure=self._auth_failed,
                    limiter=self.limiter,
                    limits=self.limits,
                )

            self.endpoints[svc.name].use_inner(layer)
        return secured

    def _design_authorizer(
        self, scheme_name: str | None, scopes: tuple[str, ...]
    ) -> DebugAuthorizer | None:
        """An authorizer checking a request's credential against a scheme of the design."""
        if scheme_name is None:
            return None
        scheme = self.api.schemes.get(scheme_name)
        if scheme is None:
            raise ImplementationError(
                f"debug_scheme {scheme_name!r} is not a scheme of the design "
                f"(schemes: {sorted(self.api.schemes)})"
            )
        from bastion.http.adminauth import scheme_authorizer

        kind = "Basic" if scheme.kind == "basic" else "Bearer"
        self._challenge = f'{kind} realm="{self.api.name}"'.encode("latin-1", "replace")
        return scheme_authorizer(scheme, scopes, self._services, self.api.name)

    def _auth_failed(self, failure: AuthFailure) -> None:
        # Never the credential: the scheme, the method, who asked, and a fixed reason.
        self.logger.write_line("warn", "auth failure", {
            "scheme": failure.scheme,
            "method": failure.method,
            "http.remote_addr": failure.client or "",
            "reason": failure.reason,
        })
        metrics = self.telemetry.metrics
        if failure.reason == "rate_limited":
            metrics.ratelimit_rejected(failure.scheme)
        else:
            metrics.auth_failure(failure.scheme, failure.reason)
        for hook in self.auth_failure_hooks:
            hook(failure)

    def _build_muxer(self) -> ASGIApp:
        self._muxer = Muxer(
            on_internal_error=self._log_internal,
            security_mapper=SecurityResponses(self.api.name),
        )
        for svc in self.api.services.values():
            endpoints = self.endpoints[svc.name]
            for m in svc.methods.values():
                self._muxer.add_method(
                    m,
                    endpoints.cells[m.name],
                    self.decoders[(svc.name, m.name)],
                    self.encoders[(svc.name, m.name)],
                    secured=(svc.name, m.name) in self._secured,
                )
        builtins: list[tuple[str, Any, str]] = [
            (path, self._serve_health, "health") for path in sorted(PROBE_PATHS)
        ]
        if self.debug_mount == "main":
            builtins += [("/metrics", self._serve_admin, "metrics"),
                         ("/debug", self._serve_admin, "debug"),
                         ("/debug/{*rest}", self._serve_admin, "debug")]
        if self.openapi_path:
            builtins.append((self.openapi_path, self._serve_openapi, "openapi"))
        if self.docs_path:
            builtins.append((self.docs_path, self._serve_docs, "docs"))
        for path, handler, name in builtins:
            try:
                self._muxer.mount("GET", path, handler, name)
            except RouteClash:
                # The design's own route wins: built-ins never shadow what users declared.
                self.logger.write_line("warn", "built-in route left out: the design uses it",
                                       {"route": f"GET {path}", "builtin": name})
        self._muxer.compile()
        return self._wrap(self._muxer)

    def with_guard(self, guard: HTTPMiddleware) -> ASGIApp:
        """This app with `guard` (the server's limits) inside its tracing and request log.

        The server calls it so that what its limits answer — 408, 413, 503 on a write
        timeout or overload — is traced, measured and logged like any other response.
        """
        inner = self._wrap(self._muxer, guard=guard)

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await self._run_lifespan(receive, send)
                return
            await inner(scope, receive, send)

        return guarded

    def _wrap(self, inner: ASGIApp, guard: HTTPMiddleware | None = None) -> ASGIApp:
        # Outermost first: tracing (so log lines carry trace ids), request log, the
        # server's limits, the user's middleware, the muxer.
        app = inner
        for mw in reversed(self._middleware):
            app = mw(app)
        if guard is not None:
            app = guard(app)
        credentials = self._credential_params()
        if self.request_log:
            app = RequestLog(app, self.logger, debug_authorizer=self.debug_authorizer,
                             credential_params=credentials)
        if self.tracing:
            app = TracingMiddleware(app, self.telemetry, credential_params=credentials)
        return app

    def _build_admin(self) -> ASGIApp:
        """The admin listener's app: metrics, debug switch, profiles and probes."""
        metrics = metrics_app(self.telemetry)
        # The admin listener is reached only from where ADMIN_ADDR is bound (loopback by
        # default), as Clue's is; on the public port `_serve_admin` checks the scheme.
        debug = debug_app(self.logger, profiling=self.profiling)
        health = self._health

        async def admin(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                # The main listener runs the app's lifespan; the admin one only acks.
                await ack_lifespan(receive, send)
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

    async def _serve_admin(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        # On the public port, /metrics and /debug sit behind the design's debug scheme.
        authorize = self._debug_authorize
        if authorize is None or not await authorize(scope):
            from bastion.http.errors import HTTPError
            from bastion.http.muxer import send_error

            err = HTTPError(401, "unauthorized", f"credentials required for {scope['path']}")
            await send_error(send, 401, err.body(), [(b"www-authenticate", self._challenge)],
                             scope)
            return
        await self.admin_app(scope, receive, send)

    async def _serve_health(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        await self._health(scope, receive, send)

    def _credential_params(self) -> set[str]:
        names = set()
        for m in self.api.methods():
            if m.http is None or m.payload is None or m.payload.object is None:
                continue
            for attr, wire in m.http.params.items():
                if m.payload.object.attributes[attr].credential is not None:
                    names.add(wire)
        return names

    def _stack_tail(self, exc: BaseException) -> str:
        # Log values are cut to a size; a stack trace's most useful lines are its last.
        text = "".join(traceback.format_exception(exc))
        limit = max(self.logger.max_value_size - 8, 64)
        # Characters may be several bytes: half the limit in characters always fits.
        return text if len(text.encode()) <= limit else "…" + text[-(limit // 2):]

    def _log_internal(self, scope: Scope, exc: BaseException, error_id: str) -> None:
        with log.use(self.logger):
            log.error(
                exc,
                "unexpected error",
                error_id=error_id,
                **{"http.method": scope.get("method"), "http.url": scope.get("path")},
                stack=self._stack_tail(exc),
            )

    @property
    def routes(self) -> list[tuple[str, str, str]]:
        """Every route served: (verb, path template, `service.method` or a built-in name)."""
        return list(self._muxer.routes)

    # -- built-in routes --------------------------------------------------------------

    @property
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the design (computed once)."""
        spec: dict[str, Any] | None = getattr(self, "_openapi", None)
        if spec is None:
            from bastion.openapi import spec as make_spec

            spec = self._openapi = make_spec(self.api)
        return spec

    async def _serve_openapi(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        body: bytes | None = getattr(self, "_openapi_json", None)
        if body is None:
            from bastion.openapi import to_json

            body = self._openapi_json = to_json(self.openapi)
        await send_response(send, 200, [(b"content-type", b"application/json")], body, scope)

    async def _serve_docs(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        from bastion.openapi import docs_html

        body = docs_html(self.openapi_path or "/openapi.json", title=self.title).encode()
        await send_response(send, 200, [(b"content-type", b"text/html; charset=utf-8")], body,
                            scope)

    # -- lifecycle --------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """Mark the app as draining: readiness answers 503 from now on."""
        self.draining = True

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the app's startup and shutdown around serving (the user's lifespan inside)."""
        uninstall = log.route_stdlib(self.logger) if self.route_stdlib_logs else None
        self.draining = False
        try:
            with log.use(self.logger):
                if self._lifespan is None:
                    yield
                else:
                    async with self._lifespan(self):
                        yield
        finally:
            await self.checker.aclose()
            await self.limiter.aclose()
            if self._owns_telemetry:
                self.telemetry.shutdown()
            else:
                self.telemetry.force_flush()
            if uninstall is not None:
                uninstall()
            self.logger.flush()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: the lifespan, or a request through the stack."""
        if scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
            return
        await self._app(scope, receive, send)

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self.lifespan())
        except Exception as exc:
            await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: "
                        f"{exc}"})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        try:
            await stack.aclose()
        except Exception as exc:
            await send({"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: "
                        f"{exc}"})
            return
        await send({"type": "lifespan.shutdown.complete"})
