"""`App`: one design and its service implementations, served as an ASGI 3 application.

Creating an `App` compiles what does not depend on a request — the design's operations
(payload and result types, error tables, the security layer of each method), the HTTP
decoders and encoders, the built-in routes — so a bad design or a service missing a
method fails at once. The endpoint chains and the HTTP middleware stack are built once,
when the App starts (its lifespan, or its first request): add middleware before that.

Reading the request path from the top: `App.__call__` → tracing → request log →
deadline layer → your HTTP middleware → the muxer (`bastion.http.muxer`): route, decode
(`bastion.http.decoder`), `Operation.call` (endpoint middleware → security → your
method), encode (`bastion.http.encoder`) → back out the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from bastion import log
from bastion._asgi import serve_lifespan
from bastion._ids import new_id
from bastion.clientaddr import ClientAddress
from bastion.debug._pprof import Profiling
from bastion.debug._switch import payload_logger
from bastion.dsl.expr import APIExpr
from bastion.endpoint import Endpoints, ImplementationError
from bastion.endpoint.threads import ThreadRunner
from bastion.errors import AlreadyStarted
from bastion.health._checker import Checker, CheckFunc, Pinger, health_app
from bastion.http.adminauth import SchemeGate
from bastion.http.autherrors import SecurityResponses
from bastion.http.bodyroute import RouteBodies, route_bodies
from bastion.http.builtins import Builtins
from bastion.http.codecs import Codec, Codecs
from bastion.http.deadline import DeadlineLayer
from bastion.http.decoder import Decoder
from bastion.http.encoder import ResultEncoder
from bastion.http.errorenc import ErrorEncoder
from bastion.http.errors import error_body
from bastion.http.files import FileServer
from bastion.http.muxer import Muxer
from bastion.http.observer import RequestObserver
from bastion.log._format import error_text
from bastion.log._logger import split_names
from bastion.operations import Operations
from bastion.options import Debug, Docs, Observe
from bastion.otel._telemetry import Telemetry, configure
from bastion.otel._tracing import ServerTracing
from bastion.redact import Redactor
from bastion.schema.compile import TypeCompiler
from bastion.schema.formats import enc_hook
from bastion.schema.validate import Collector
from bastion.security import AuthFailure, RateLimiter, RateLimits
from bastion.security.design import rate_limits
from bastion.types import ASGIApp, HTTPMiddleware, Receive, Refusal, Scope, Send

if TYPE_CHECKING:
    from bastion.config import Config

__all__ = ["App", "Lifespan"]

#: What the HTTP transport compiles per method: decoder, encoders, what its route's bodies do.
_HTTPCodecs = tuple["Decoder | None", "ResultEncoder", "ErrorEncoder", "RouteBodies | None"]
#: A user lifespan: called with the app, returns an async context manager wrapping serving.
Lifespan = Callable[["App"], contextlib.AbstractAsyncContextManager[Any]]


class App:
    """Serve `api` with `services` (a mapping from service name to its implementation).

    `config` is the environment's configuration (`bastion.config.Config` or a subclass):
    limits, logging, Redis, threads. `observe`, `docs` and `debug` group the App's own
    options (see `bastion.options`); `limiter` and `limits` replace the rate limiter and
    the limits the design and the environment give. `app.use(mw)` adds HTTP middleware,
    `app.endpoints["svc"].use(mw)` endpoint middleware, the first added outermost, until
    the App starts. `interceptors` maps a service name to the object implementing its
    design's server interceptors (see `bastion.endpoint.interceptors`).
    """

    def __init__(
        self,
        api: APIExpr,
        services: Mapping[str, object],
        *,
        config: Config | None = None,
        lifespan: Lifespan | None = None,
        checks: Iterable[Pinger | CheckFunc] = (),
        logger: log.Logger | None = None,
        telemetry: Telemetry | None = None,
        observe: Observe | bool = True,
        docs: Docs | bool = True,
        debug: Debug | None = None,
        limiter: RateLimiter | None = None,
        limits: RateLimits | None = None,
        version: str | None = None,
        interceptors: Mapping[str, object] | None = None,
        codecs: Iterable[Codec] | Codecs = (),
    ) -> None:
        self.api = api.finalize()
        #: The media types bodies are read and written in (bastion.http.codecs): JSON,
        #: msgpack, CBOR and text, then `codecs` (adding or replacing by media type); a
        #: `Codecs` given is the whole registry (`Codecs([JSON])`: JSON only, no `Accept`).
        self.codecs = codecs if isinstance(codecs, Codecs) else Codecs()
        if not isinstance(codecs, Codecs):
            for codec in codecs:
                self.codecs.add(codec)
        self.config = config
        self.title = api.title or api.name
        self.version = version or api.version
        #: False with `observe=False`: no spans, metrics, request scope nor payload logs.
        self.observing = observe is not False
        self.observe = observe if isinstance(observe, Observe) else Observe(
            tracing=self.observing, request_log=self.observing)
        self.docs = Docs() if docs is True else Docs(None, None) if docs is False else docs
        self.debug = debug or Debug()
        self.draining = False
        self._lifespan = lifespan
        self.logger = logger or _logger_for(api.name, config)
        if self.logger.service is None:
            self.logger.service = api.name  # `service.name` on every line the App writes
        self._owns_telemetry = telemetry is None
        self.telemetry = telemetry or configure(api.name, self.version)
        self.max_body_bytes = config.max_body_bytes if config is not None else _default_body()
        #: The threads of sync methods and sync auth handlers (THREADS per worker).
        self.threads = ThreadRunner(config.threads if config is not None else 64)
        self.limiter = limiter or RateLimiter(config.redis_url if config is not None else None)
        self._count_fallback()
        self.limits = limits or self._limits_from(config)
        #: Who a request's client is (TRUSTED_PROXIES): one rule for logs, spans, security.
        self.client_address = ClientAddress(
            config.trusted_proxies.split(",") if config is not None else ())
        #: Called with every `AuthFailure` after it is logged (metrics hook in here).
        self.auth_failure_hooks: list[Callable[[AuthFailure], None]] = []

        compiler = TypeCompiler(api)
        #: The design's methods, compiled for every transport (see bastion.operations).
        self.operations = Operations(api, services, compiler=compiler, threads=self.threads,
                                     limiter=self.limiter, limits=self.limits,
                                     on_auth_failure=self._auth_failed,
                                     interceptors=interceptors)
        #: What logs, spans, payload logs and error bodies redact: the defaults, the
        #: design's credential and sensitive attributes, and LOG_REDACT.
        self.redactor = self._redactor(config)
        # The App's Logger redacts routed library lines and client lines with it too.
        self.logger.redactor = self.logger.redactor.with_names(self.redactor.names)
        if self.observing:
            # `service` and `method` bound, and payloads logged under debug: one layer.
            self.operations.use(payload_logger(self.observe.payload_log_max,
                                               redactor=self.redactor, bind=True))
        self._codecs = self._compile_http(compiler)

        self.checker = Checker(*checks, cache_ttl=self.observe.health_cache_ttl,
                               logger=self.logger, tracer=self.telemetry.tracer)
        self.profiling = Profiling()
        self._answers = SecurityResponses(self.api.name)
        gate = self._design_gate(services)
        self.debug_authorizer = self.debug.authorizer or gate
        self.builtins = Builtins(
            self.api, title=self.title, checker=self.checker,
            health=health_app(self.checker, version=self.version,
                              is_draining=lambda: self.draining),
            telemetry=self.telemetry, logger=self.logger, profiling=self.profiling,
            openapi_path=self.docs.openapi, docs_path=self.docs.page,
            debug_on_main=self.debug.mount == "main", gate=gate, answers=self._answers,
        )
        self.builtins.media_types = [(c.media_type, c.structured) for c in self.codecs]
        #: The admin listener's app: /metrics, /debug, the profiles and probes.
        self.admin_app: ASGIApp = self.builtins.admin_app
        self._middleware: list[HTTPMiddleware] = []
        self._app: ASGIApp | None = None
        self._grpc: Any = None  # the GRPCTransport, made when a server asks for it
        self._streams: Any = None  # bastion.http.streams.Streams, for designs with streams

    # -- composition ----------------------------------------------------------------

    @property
    def endpoints(self) -> Mapping[str, Endpoints]:
        """Each service's endpoints; `endpoints["svc"].use(mw)` adds endpoint middleware."""
        return self.operations.endpoints

    def use(self, middleware: HTTPMiddleware) -> None:
        """Add HTTP middleware `middleware(app) -> app`; the first added is outermost.

        Allowed until the App starts: the middleware stack is built once, as Starlette's.
        Called after, it raises `bastion.errors.AlreadyStarted`.
        """
        if self._app is not None:
            raise AlreadyStarted("App.use() after the App started: add HTTP middleware before "
                                 "serving (the stack is built once)")
        self._middleware.append(middleware)

    def build(self) -> ASGIApp:
        """Build the endpoint chains and the HTTP stack, once; return the stack.

        The App does it when it starts (its lifespan) or at its first request.
        """
        if self._app is not None:
            return self._app
        self.operations.build()
        muxer = Muxer(on_internal_error=self._log_internal, security_mapper=self._answers,
                      redactor=self.redactor, client_address=self.client_address,
                      streams=self._http_streams())
        for key, operation in self.operations.items():
            decoder, encoder, errors, bodies = self._codecs[key]
            muxer.add_operation(operation, decoder, encoder, errors, bodies)
        for svc in self.api.services.values():
            for files in svc.files:
                muxer.mount("GET", files.full_path, FileServer(files), f"{svc.name}.files")
        self.builtins.mount(muxer)
        muxer.compile()
        self._muxer = muxer
        # Outermost first: the request observer (its log scope and lines, its span and
        # metrics, in one layer), the request's lifetime (deadline, cancellation answered
        # 503), the user's middleware, the muxer.
        app: ASGIApp = muxer
        for mw in reversed(self._middleware):
            app = mw(app)
        app = DeadlineLayer(app, self.logger)
        observe = self.observe
        tracing = ServerTracing(self.telemetry, credential_params=self.redactor.names,
                                client_address=self.client_address) if observe.tracing else None
        if self.observing or tracing is not None:
            options = observe.log_options
            app = RequestObserver(app, logger=self.logger if self.observing else None,
                                  tracing=tracing, lines=observe.lines,
                                  exclude_paths=options.exclude, buffered=options.buffered,
                                  redactor=self.redactor,
                                  debug_authorizer=self.debug_authorizer,
                                  client_address=self.client_address)
        self._app = app
        return app

    def _http_streams(self) -> Any:
        """What the design's HTTP streams share (WebSocket, SSE); None without any."""
        if not any(m.stream_kind is not None and m.http is not None
                   for m in self.api.methods()):
            return None
        from bastion.http.streams import Streams

        self._streams = Streams(
            logger=self.logger, telemetry=self.telemetry if self.observe.tracing else None,
            lines=self.observing and self.observe.lines,
            heartbeat=self.config.sse_heartbeat if self.config is not None else 15.0)
        return self._streams

    @property
    def routes(self) -> list[tuple[str, str, str]]:
        """Every route served: (verb, path template, `service.method` or a built-in name)."""
        self.build()
        return list(self._muxer.routes)

    @property
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the design (made once)."""
        return self.builtins.openapi

    def _compile_http(self, compiler: TypeCompiler) -> dict[tuple[str, str], _HTTPCodecs]:
        encoder = msgspec.json.Encoder(enc_hook=enc_hook)
        collector = Collector(compiler)
        codecs: dict[tuple[str, str], _HTTPCodecs] = {}
        for key, op in self.operations.items():
            m = op.expr
            decoder = None
            if m.payload is not None and m.http is not None:
                decoder = Decoder(op, compiler, collector, max_body_bytes=self.max_body_bytes,
                                  codecs=self.codecs, impl=self.operations.endpoints[key[0]].impl)
            results, errors, bodies = route_bodies(op, self.codecs, self.max_body_bytes, encoder)
            codecs[key] = (decoder, results, errors, bodies)
        return codecs

    def _limits_from(self, config: Config | None) -> RateLimits:
        """The design's limits, with RATE_LIMITS and AUTH_FAILURES_* from `config` on top."""
        design = rate_limits(self.api)
        if config is None:
            return design
        from bastion.config._settings import parse_rate_limits

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

    def _design_gate(self, services: Mapping[str, object]) -> SchemeGate | None:
        """The API's enforcer, checking a request's credential against the debug scheme."""
        debug = self.debug
        if debug.scheme is None:
            if debug.mount == "main":
                raise ImplementationError(
                    "Debug(mount='main') serves /debug and /metrics on the public port: name "
                    "the design's security scheme that protects them with Debug(scheme=...)"
                )
            return None
        scheme = self.api.schemes.get(debug.scheme)
        if scheme is None:
            raise ImplementationError(
                f"Debug(scheme={debug.scheme!r}) is not a scheme of the design "
                f"(schemes: {sorted(self.api.schemes)})"
            )
        return SchemeGate(scheme, tuple(debug.scopes), dict(services), limiter=self.limiter,
                          limits=self.limits, on_failure=self._auth_failed, threads=self.threads,
                          client_address=self.client_address)

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
        service, _, method = failure.method.partition(".")
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

    def _redactor(self, config: Config | None) -> Redactor:
        """The App's redaction: defaults, every method's sensitive names, LOG_REDACT."""
        names: set[str] = set()
        for op in self.operations.values():
            names |= op.info.sensitive
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

    # -- what the server uses (the ServedApp contract) ------------------------------------

    def links(self) -> dict[str, str]:
        """The built-in pages worth announcing at startup, by name."""
        found = {}
        if self.builtins.openapi_path:
            found["openapi"] = self.builtins.openapi_path
        if self.builtins.docs_path:
            found["docs"] = self.builtins.docs_path
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
        if self.observe.lines:
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
        if self.observe.tracing:
            self.telemetry.metrics.refused(refusal.method, refusal.status, refusal.name)
        return headers, body

    def begin_shutdown(self) -> None:
        """Mark the app as draining: readiness answers 503 (and gRPC health NOT_SERVING)."""
        self.draining = True
        if self._grpc is not None:
            self._grpc.begin_shutdown()
        if self._streams is not None:
            self._streams.begin_shutdown()  # WebSockets close 1001, event streams end

    def grpc_transport(self) -> Any:
        """The `bastion.grpc.GRPCTransport` of the design's GRPC methods; None if it has none.

        Made once, when the server first asks (it needs the `grpc` extra).
        """
        if self._grpc is None and any(m.grpc is not None for m in self.api.methods()):
            self.build()
            try:
                from bastion.grpc import GRPCTransport
            except ImportError as exc:
                raise ImplementationError(
                    f"design {self.api.name!r} has gRPC methods, which need the grpc extra: "
                    f"pip install 'bastion[grpc]' ({exc})") from None

            async def healthy() -> bool:
                return not self.draining and (await self.checker.check()).healthy

            observing = self.observing
            self._grpc = GRPCTransport(
                self.api, self.operations, logger=self.logger, healthy=healthy,
                telemetry=self.telemetry if self.observe.tracing else None,
                lines=observing and self.observe.lines,
                buffered=self.observe.log_options.buffered,
                authorize=self.debug_authorizer if observing else None,
                on_internal=self._log_internal, client_address=self.client_address)
        return self._grpc

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the app's startup and shutdown around serving (the user's lifespan inside)."""
        self.build()
        uninstall = log.route_stdlib(self.logger) if self.observe.route_stdlib_logs else None
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
        await (self._app or self.build())(scope, receive, send)

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        # The ASGI lifespan, for other servers (Bastion's own calls `lifespan()`).
        await serve_lifespan(receive, send, self.lifespan)


def _logger_for(name: str, config: Config | None) -> log.Logger:
    if config is None:
        return log.Logger.from_env(service=name)
    fmt = None if config.log_format == "auto" else config.log_format
    return log.Logger(level=config.log_level, format=fmt, service=name, keys=config.log_keys)


def _default_body() -> int:
    # The one default of MAX_BODY_BYTES: the configuration's.
    from bastion.config import Config

    default: int = Config.model_fields["max_body_bytes"].default
    return default
