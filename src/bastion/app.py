"""`App`: one design and its service implementations, served as an ASGI 3 application.

Creating an `App` compiles everything a request needs — route table, decoders,
encoders, endpoint chains, error tables — so a bad design or a service missing a
method fails at startup, not on the first request.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from bastion import log
from bastion._asgi import ack_lifespan
from bastion._ids import new_id
from bastion.debug._pprof import Profiling
from bastion.debug._switch import debug_app, is_debug_path, payload_logger
from bastion.dsl.expr import APIExpr
from bastion.endpoint import Endpoints, ImplementationError
from bastion.endpoint.logfields import log_fields
from bastion.endpoint.threads import ThreadRunner
from bastion.errors import Forbidden, Unauthorized, _new_id
from bastion.health._checker import PROBE_PATHS, Checker, CheckFunc, Pinger, health_app
from bastion.http.adminauth import SchemeGate
from bastion.http.autherrors import SecurityResponses
from bastion.http.deadline import DeadlineLayer
from bastion.http.decoder import Decoder
from bastion.http.encoder import ResultEncoder
from bastion.http.errors import error_body
from bastion.http.muxer import Muxer, send_error, send_response
from bastion.http.requestlog import DebugAuthorizer, RequestLog, RequestLogOptions
from bastion.http.router import RouteClash
from bastion.log._format import error_text
from bastion.log._logger import split_names
from bastion.otel._prometheus import metrics_app
from bastion.otel._telemetry import Telemetry, configure
from bastion.otel._tracing import TracingMiddleware
from bastion.redact import Redactor
from bastion.schema.compile import TypeCompiler
from bastion.schema.formats import enc_hook
from bastion.schema.validate import Collector
from bastion.security import (
    AuthFailure,
    RateLimited,
    RateLimiter,
    RateLimits,
    handlers_for,
    secure,
)
from bastion.security.design import rate_limits, requirements, scheme_kinds
from bastion.types import ASGIApp, ErrorNote, HTTPMiddleware, Receive, Refusal, Scope, Send

if TYPE_CHECKING:
    from bastion.config import Config
    from bastion.openapi import DocsPage

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
        request_log: bool | RequestLogOptions = True,
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
            logger = log.Logger(
                level=config.log_level, format=fmt, service=api.name, keys=config.log_keys
            )
        self.logger = logger or log.Logger.from_env(service=api.name)
        if self.logger.service is None:
            self.logger.service = api.name  # `service.name` is on every line the App writes
        self._owns_telemetry = telemetry is None
        self.telemetry = telemetry or configure(api.name, self.version)
        self.tracing = tracing and observability
        # The request's log scope (Logger, request id, debug switch) is there whenever
        # the App observes; `request_log` only says whether start and end lines are written.
        self.request_log = bool(request_log) and observability
        self.request_log_options = (
            request_log if isinstance(request_log, RequestLogOptions) else RequestLogOptions()
        )
        self._observability = observability
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
        #: The threads of sync methods and sync auth handlers (THREADS per worker).
        self.threads = ThreadRunner(config.threads if config is not None else 64)
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
                svc, services[svc.name], self.compiler, payload_types, result_types,
                threads=self.threads,
            )
        #: What logs, spans, payload logs and error bodies redact: the defaults, the
        #: design's credential and sensitive attributes, and LOG_REDACT.
        self.redactor = self._redactor(config)
        # The App's Logger redacts routed library lines and client lines with it too.
        self.logger.redactor = self.logger.redactor.with_names(self.redactor.names)
        if observability:
            for endpoints in self.endpoints.values():
                endpoints.use(log_fields)
                endpoints.use(payload_logger(payload_log_max, redactor=self.redactor))
        self.limiter = limiter or RateLimiter(redis_url)
        self._count_fallback()
        self.limits = limits or self._limits_from(config)
        self._services = dict(services)
        self._secured = self._secure(services)
        self._security_answers = SecurityResponses(self.api.name)
        self._debug_gate = self._design_gate(debug_scheme, tuple(debug_scopes))
        if self.debug_authorizer is None and self._debug_gate is not None:
            self.debug_authorizer = self._debug_gate
        self.debug_mount = debug_mount
        if debug_mount == "main" and self._debug_gate is None:
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
                    threads=self.threads,
                )

            self.endpoints[svc.name].use_inner(layer)
        return secured

    def _design_gate(self, scheme_name: str | None, scopes: tuple[str, ...]) -> SchemeGate | None:
        """The API's enforcer, checking a request's credential against a scheme of the design."""
        if scheme_name is None:
            return None
        scheme = self.api.schemes.get(scheme_name)
        if scheme is None:
            raise ImplementationError(
                f"debug_scheme {scheme_name!r} is not a scheme of the design "
                f"(schemes: {sorted(self.api.schemes)})"
            )
        return SchemeGate(scheme, scopes, self._services, limiter=self.limiter,
                          limits=self.limits, on_failure=self._auth_failed, threads=self.threads)

    def _count_fallback(self) -> None:
        """Count the limiter's checks answered in this process while Redis is unreachable."""
        if not self.limiter.shared or self.limiter.on_fallback is not None:
            return
        counter = self.telemetry.meter.create_counter(
            "bastion.ratelimit.fallback",
            unit="{check}",
            description="Rate limit and lockout checks counted in this process because the "
            "shared store was unreachable.",
        )
        self.limiter.on_fallback = counter.add

    def _auth_failed(self, failure: AuthFailure) -> None:
        # Never the credential: the scheme, the method, who asked, and a fixed reason.
        service, _, method = failure.method.rpartition(".")
        self.logger.write_line("warn", "auth failure", {
            "scheme": failure.scheme,
            "service": service,
            "method": method,
            "client.address": failure.client or "",
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
            security_mapper=self._security_answers,
            redactor=self.redactor,
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
        if self.docs_path and self.openapi_path:
            builtins.append((self.docs_path, self._serve_docs, "docs"))
            builtins.append((self.docs_path.rstrip("/") + "/{*asset}", self._serve_docs, "docs"))
        for path, handler, name in builtins:
            try:
                self._muxer.mount("GET", path, handler, name)
            except RouteClash:
                # The design's own route wins: built-ins never shadow what users declared.
                self.logger.write_line("warn", "built-in route left out: the design uses it",
                                       {"route": f"GET {path}", "builtin": name})
        self._muxer.compile()
        return self._wrap(self._muxer)

    def _wrap(self, inner: ASGIApp) -> ASGIApp:
        # Outermost first: tracing (so log lines carry trace ids), request log, the
        # request's lifetime (deadline, cancellation answered 503), the user's
        # middleware, the muxer.
        app = inner
        for mw in reversed(self._middleware):
            app = mw(app)
        app = DeadlineLayer(app, self.logger)
        if self._observability:
            options = self.request_log_options
            app = RequestLog(
                app,
                self.logger,
                debug_authorizer=self.debug_authorizer,
                redactor=self.redactor,
                lines=self.request_log,
                exclude_paths=options.exclude,
                buffered=options.buffered,
                trusted_proxies=options.trusted_proxies,
            )
        if self.tracing:
            app = TracingMiddleware(app, self.telemetry, credential_params=self.redactor.names)
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
        # On the public port, /metrics and /debug sit behind the design's debug scheme,
        # checked and refused exactly as the API's methods are.
        gate = self._debug_gate
        if gate is not None:
            try:
                await gate.check(scope)
            except (Unauthorized, Forbidden, RateLimited) as exc:
                answer = self._security_answers(exc)
                if answer is None:  # pragma: no cover - every refusal has an answer
                    raise
                status, name, message, headers = answer
                error_id = _new_id()
                await send_error(send, status, error_body(name, error_id, message), headers,
                                 scope, error=ErrorNote(name, error_id, exc))
                return
        await self.admin_app(scope, receive, send)

    async def _serve_health(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        await self._health(scope, receive, send)

    def _redactor(self, config: Config | None) -> Redactor:
        """The App's redaction: defaults, every method's sensitive names, LOG_REDACT."""
        names: set[str] = set()
        for endpoints in self.endpoints.values():
            for info in endpoints.infos.values():
                names |= info.sensitive
        env = config.log_redact if config is not None else os.environ.get("LOG_REDACT", "")
        names.update(split_names(env))
        return Redactor(names)

    def _log_internal(self, scope: Scope, exc: BaseException, error_id: str) -> None:
        # The whole stack, bounded by cutting its middle (never the service's own frames),
        # and redacted as routed library lines are: exception texts may quote secrets.
        text = self.logger.redactor.text
        with log.use(self.logger):
            self.logger.write_line("error", "unexpected error", {
                "err": text(error_text(exc)),
                "http.request.method": scope.get("method"),
                "url.path": scope.get("path"),
                "error.id": error_id,
                log.STACK_KEY: text(log.stack_text(exc)),
            })

    @property
    def routes(self) -> list[tuple[str, str, str]]:
        """Every route served: (verb, path template, `service.method` or a built-in name)."""
        return list(self._muxer.routes)

    # -- what the server uses (the ServedApp contract) ------------------------------------

    def links(self) -> dict[str, str]:
        """The built-in pages worth announcing at startup, by name."""
        found = {}
        if self.openapi_path:
            found["openapi"] = self.openapi_path
        if self.docs_path:
            found["docs"] = self.docs_path
        return found

    def refusal(self, refusal: Refusal) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """Log, count and render an error the server answers itself (400, 408, 414, 431...).

        Such a request never reaches the middleware, so its `end` line, its metric and its
        JSON body are made here, with the request id the client sent or a new one.
        """
        rid = refusal.request_id or new_id()
        error_id = new_id()
        body = error_body(refusal.name, error_id, refusal.message,
                          temporary=refusal.temporary, timeout=refusal.timeout)
        headers = [(b"content-type", b"application/json"),
                   (b"x-request-id", rid.encode("ascii"))]
        if refusal.retry_after is not None:
            headers.append((b"retry-after", str(refusal.retry_after).encode("ascii")))
        if self.request_log:
            self.logger.write_line("warn" if refusal.status >= 500 else "info", "end", {
                "request_id": rid,
                "http.request.method": refusal.method or "",
                "url.path": refusal.path or "",
                "http.response.status_code": refusal.status,
                "client.address": refusal.client or "",
                "error.type": refusal.name,
                "error.id": error_id,
                "error.message": refusal.message,
            })
        if self.tracing:
            self.telemetry.metrics.refused(refusal.method, refusal.status, refusal.name)
        return headers, body

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
        docs: DocsPage | None = getattr(self, "_docs", None)
        if docs is None:
            # Built on the first visit (it reads Swagger UI's files), then kept.
            from bastion.openapi import DocsPage

            docs = self._docs = DocsPage(self.api, docs_path=self.docs_path or "/docs",
                                         spec_path=self.openapi_path or "/openapi.json",
                                         title=self.title)
        found = docs.find(params.get("asset", ""))
        if found is None:
            from bastion.http.errors import HTTPError
            from bastion.http.muxer import send_error

            err = HTTPError(404, "not_found", f"no such file: {scope['path']}")
            await send_error(send, 404, err.body(), [], scope)
            return
        await send_response(send, 200, list(found.headers), found.body, scope)

    # -- lifecycle --------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """Mark the app as draining: readiness answers 503 from now on."""
        self.draining = True

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the app's startup and shutdown around serving (the user's lifespan inside)."""
        uninstall = log.route_stdlib(self.logger) if self.route_stdlib_logs else None
        self.draining = False
        await self.limiter.start()  # follows a shared store's failure feed
        try:
            with log.use(self.logger):
                if self._lifespan is None:
                    yield
                else:
                    async with self._lifespan(self):
                        yield
        finally:
            # Threads of cancelled requests may still run: they log through this App's
            # logger, so it stays up until the last one is done (bounded by the config).
            timeout = self.config.shutdown_timeout if self.config is not None else 30.0
            if not await self.threads.aclose(timeout):
                self.logger.write_line("warn", "threads still running at shutdown", {
                    "count": self.threads.running})
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
