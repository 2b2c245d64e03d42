"""The servicer: each rpc of the design compiled once into a grpcio method handler.

One call, from grpcio's handler to the method and back:

1. the metadata is read once: the request id (`x-request-id`, else a new one), the debug
   header (`x-debug-logs: on`, for an authorised caller), the W3C trace context, and the
   payload attributes the design reads from metadata (credentials as on HTTP:
   `authorization: Bearer ...` or `Basic ...`, `x-api-key`);
2. a SERVER span (OpenTelemetry's RPC conventions), the request's log scope and its
   `start` line, and the call's `Lifetime` — the client's deadline, capped for a unary
   call by WRITE_TIMEOUT — made current, so `bastion.deadline()` is the client's;
3. the payload is built from the message and the metadata, validated
   (`Operation.build_payload`), and `Operation.call` runs the endpoint chain — the same
   one HTTP calls: log fields, payload logs, your middleware, the security layer, the
   method; streams run inside it (`bastion.endpoint.streams`);
4. the result is checked against the design and encoded; a failure becomes a status
   (`bastion.grpc._status`); the `end` line, `rpc.server.duration` and the span close.

The method runs in a task of its own, so that a call cancelled by grpcio (the client
left, its deadline passed) stops the method only before it begins committing
(`bastion.committing()`), as on HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import grpc
from opentelemetry.context import attach, detach, get_current, set_value
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from bastion import log
from bastion._ids import is_valid_request_id, new_id
from bastion.dsl._grpc import CODE_NAMES, GRPCExpr, error_code
from bastion.endpoint import lifetime as lifetimes
from bastion.endpoint import streams
from bastion.endpoint.lifetime import Lifetime
from bastion.errors import ClientDisconnected
from bastion.grpc._codec import Codec, Contract
from bastion.grpc._metadata import (
    Authorize,
    Source,
    authorized,
    peer_of,
    read_metadata,
    renamer,
    sources_of,
    stream_path,
)
from bastion.grpc._proto import ProtoFile, ProtoRPC
from bastion.grpc._status import DETAILS_KEY, Failure, failure_of, goa_default
from bastion.operations import InvalidPayload, Operation, Operations
from bastion.security.principal import set_client_address
from bastion.security.ratelimit import rate_limit_decision

__all__ = ["Call", "RPCHandlers", "Settings"]

_Context = grpc.aio.ServicerContext[Any, Any]

# Server span status for these codes is an error (OpenTelemetry's gRPC conventions).
_SERVER_ERRORS: Final = frozenset({2, 4, 12, 13, 14, 15})
_PROPAGATION: Final = frozenset({"traceparent", "tracestate", "baggage"})
#: Reasons a call is cancelled by the transport, and what the client is told.
_CANCELLED: Final = {
    "deadline": (4, "deadline_exceeded", "the call did not finish before its deadline"),
    "shutdown": (14, "unavailable", "the server is shutting down; retry on another server"),
}

#: Called with (scope-like fields, exception, error id) for every INTERNAL answer.
InternalHook = Callable[[dict[str, Any], BaseException, str], None]


@dataclass
class Settings:
    """What the listener tells the handlers: the cap of a unary call's deadline."""

    unary_timeout: float | None = None


@dataclass(eq=False)
class Call:
    """One call in progress, as the drain sees it."""

    lifetime: Lifetime
    streaming: bool
    task: asyncio.Task[Any] | None = None  # the method's task
    bad_message: BaseException | None = None  # a streamed message that was invalid


@dataclass
class _Observe:
    logger: log.Logger
    telemetry: Any  # bastion.otel Telemetry, or None: no spans nor metrics
    lines: bool
    buffered: bool
    authorize: Authorize | None
    on_internal: InternalHook


class RPCHandlers:
    """Every rpc of a design as grpcio generic handlers, and the calls in progress."""

    def __init__(
        self,
        api_name: str,
        files: list[ProtoFile],
        operations: Operations,
        *,
        logger: log.Logger,
        telemetry: Any = None,
        lines: bool = True,
        buffered: bool = False,
        authorize: Authorize | None = None,
        on_internal: InternalHook,
        client_address: Any = None,
    ) -> None:
        self.files = files
        # The App's TRUSTED_PROXIES rule (`bastion.clientaddr`), when it trusts any proxy.
        self.client_address = client_address if getattr(client_address, "trusted", None) \
            else None
        self.contract = Contract(files)
        self.settings = Settings()
        self.calls: dict[asyncio.Task[Any], Call] = {}
        self.idle = asyncio.Event()
        self.idle.set()
        duration = None
        if telemetry is not None:
            duration = telemetry.meter.create_histogram(
                "rpc.server.duration", unit="ms",
                description="Duration of inbound RPCs, from the call to its status.")
        self._observe = _Observe(logger, telemetry, lines, buffered, authorize, on_internal)
        self._duration = duration
        self._api_name = api_name
        self.handlers: list[grpc.GenericRpcHandler] = []
        for f in files:
            methods = {rpc.name: self._handler(f, rpc, operations[(f.service.name,
                                                                    rpc.method.name)])
                       for rpc in f.rpcs}
            self.handlers.append(grpc.method_handlers_generic_handler(f.full_service_name,
                                                                      methods))

    @property
    def service_names(self) -> list[str]:
        """The full names of the design's services (`orders.Orders`)."""
        return [f.full_service_name for f in self.files]

    # -- the drain -------------------------------------------------------------------

    def end_streams(self, reason: str = "shutdown") -> int:
        """Cancel every streaming call (they answer UNAVAILABLE); return how many."""
        return self._cancel(reason, streams_only=True)

    def cancel_all(self, reason: str = "shutdown") -> int:
        """Cancel every call not committing (they answer UNAVAILABLE); return how many."""
        return self._cancel(reason, streams_only=False)

    def _cancel(self, reason: str, *, streams_only: bool) -> int:
        n = 0
        for call in list(self.calls.values()):
            if streams_only and not call.streaming:
                continue
            if call.lifetime.cancel(reason) and call.task is not None:
                call.task.cancel()
                n += 1
        return n

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress, up to `timeout` seconds; return whether so."""
        try:
            async with asyncio.timeout(timeout):
                await self.idle.wait()
        except TimeoutError:
            return False
        return True

    # -- compiling one rpc -----------------------------------------------------------

    def _handler(self, f: ProtoFile, rpc: ProtoRPC,
                 op: Operation) -> grpc.RpcMethodHandler[Any, Any]:
        contract = self.contract
        m = rpc.method
        g: GRPCExpr = m.grpc
        request = contract.codec(rpc.request) if not rpc.client_streaming else None
        stream_in = contract.codec(rpc.streaming_request) if rpc.streaming_request else None
        response = contract.codec(rpc.response)
        errors: dict[str, tuple[int, bool, bool, bool]] = {}
        for e in op.errors.values():
            code = error_code(m, e.name)
            if code is None:
                code = goa_default(e.temporary, e.timeout, e.fault)
            errors[e.name] = (code, e.temporary, e.timeout, e.fault)
        sources = sources_of(m, g)
        rename = renamer(rpc.request, g.metadata)
        run = _Runner(self, f, rpc, op, request, stream_in, response, errors, sources, rename)
        if rpc.client_streaming:
            deserialize = stream_in.cls.FromString if stream_in is not None else None
        else:
            deserialize = request.cls.FromString if request is not None else None
        serialize = response.cls.SerializeToString
        if rpc.client_streaming and rpc.server_streaming:
            return grpc.stream_stream_rpc_method_handler(
                run.stream_stream, request_deserializer=deserialize,
                response_serializer=serialize)
        if rpc.client_streaming:
            return grpc.stream_unary_rpc_method_handler(
                run.stream_unary, request_deserializer=deserialize,
                response_serializer=serialize)
        if rpc.server_streaming:
            return grpc.unary_stream_rpc_method_handler(
                run.unary_stream, request_deserializer=deserialize,
                response_serializer=serialize)
        return grpc.unary_unary_rpc_method_handler(
            run.unary_unary, request_deserializer=deserialize, response_serializer=serialize)


class _Runner:
    """One rpc's handlers (unary and streams), with everything they need bound."""

    def __init__(self, owner: RPCHandlers, f: ProtoFile, rpc: ProtoRPC, op: Operation,
                 request: Codec | None, stream_in: Codec | None, response: Codec,
                 errors: dict[str, tuple[int, bool, bool, bool]], sources: list[Source],
                 rename: Callable[[str], tuple[str, str]]) -> None:
        self.owner = owner
        self.op = op
        self.rpc = rpc
        self.request = request
        self.stream_in = stream_in
        self.response = response
        self.errors = errors
        self.sources = sources
        self.rename = rename
        # A streamed message's bad field is named by the streaming request's fields.
        self.stream_rename: Callable[[str], tuple[str, str]] = (
            lambda path: rename(stream_path(path, stream_in)))
        self.service = f.full_service_name
        self.method = rpc.name
        self.full = f"/{f.full_service_name}/{rpc.name}"
        self.span_name = f"{f.full_service_name}/{rpc.name}"
        self.streaming = rpc.client_streaming or rpc.server_streaming
        self.domain = owner._api_name
        self.goa_error = owner.contract.goa_error
        obs = owner._observe
        self.obs = obs
        self.names = {"rpc.system": "grpc", "rpc.service": self.service,
                      "rpc.method": self.method}
        self.takes_payload = rpc.method.payload is not None

    # -- the four shapes -------------------------------------------------------------

    async def unary_unary(self, request: Any, context: _Context) -> Any:
        return await self._serve(context, request, None)

    async def unary_stream(self, request: Any, context: _Context) -> None:
        await self._serve(context, request, None)

    async def stream_unary(self, requests: AsyncIterator[Any],
                           context: _Context) -> Any:
        return await self._serve(context, None, requests)

    async def stream_stream(self, requests: AsyncIterator[Any],
                            context: _Context) -> None:
        await self._serve(context, None, requests)

    # -- one call --------------------------------------------------------------------

    async def _serve(self, context: _Context, request: Any,
                     requests: AsyncIterator[Any] | None) -> Any:
        start = time.perf_counter()
        obs = self.obs
        metadata: list[tuple[str, Any]] = list(context.invocation_metadata() or ())
        rid = ""
        debug_asked = False
        carrier: dict[str, str] | None = None
        for key, value in metadata:
            if key == "x-request-id" and isinstance(value, str) and is_valid_request_id(value):
                rid = value
            elif key == "x-debug-logs" and value == "on":
                debug_asked = True
            elif key in _PROPAGATION:
                if carrier is None:
                    carrier = {}
                carrier[key] = f"{carrier[key]},{value}" if key in carrier else value
        rid = rid or new_id()
        peer, port = peer_of(context.peer())
        network_peer = peer
        resolve = self.owner.client_address
        if resolve is not None:
            # Behind a trusted proxy, its x-forwarded-for / forwarded metadata name the client.
            peer = resolve({"client": (peer, port or 0), "headers": [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in metadata
                if k in ("x-forwarded-for", "forwarded") and isinstance(v, str)]}) or peer

        telemetry = obs.telemetry
        span = None
        token = None
        if telemetry is not None:
            parent = telemetry.propagator.extract(carrier) if carrier is not None else (
                get_current())
            attributes: dict[str, Any] = {**self.names}
            if network_peer:
                attributes["network.peer.address"] = network_peer
                if port is not None:
                    attributes["network.peer.port"] = port
                attributes["client.address"] = peer
            span = telemetry.tracer.start_span(self.span_name, context=parent,
                                               kind=SpanKind.SERVER, attributes=attributes)
            token = attach(set_value(_telemetry_key(), telemetry,
                                     set_span_in_context(span, parent)))
        debug = False
        if debug_asked and obs.authorize is not None:
            debug = await authorized(obs.authorize, metadata, self.full, peer, port)
        scope = log.RequestContext(obs.logger, {"request_id": rid}, debug=debug).enter()
        if obs.lines:
            obs.logger.write_info("start", {**self.names, "client.address": peer},
                                  hold=obs.buffered)

        remaining = context.time_remaining()
        cap = self.owner.settings.unary_timeout if not self.streaming else None
        if cap is not None and (remaining is None or remaining > cap):
            remaining = cap
        now = time.monotonic()
        life = Lifetime(now + remaining if remaining is not None else None)
        outer = asyncio.current_task()
        call = Call(life, self.streaming)
        owner = self.owner
        if outer is not None:
            owner.calls[outer] = call
            owner.idle.clear()
        failure: Failure | None = None
        answer: Any = None
        error: BaseException | None = None
        try:
            try:
                answer = await self._run(call, context, request, requests, metadata, peer)
            except asyncio.CancelledError:
                reason = life.reason
                if reason in _CANCELLED and outer is not None and outer.cancelling() == 0:
                    failure = self._cancelled(reason)  # the transport's own cancellation
                else:
                    life.cancel("client")
                    raise  # grpcio cancelled the call: nobody is listening
            except ClientDisconnected:
                raise
            except Exception as exc:
                # A bad streamed message names the streaming request's fields, not the
                # request's; the exception itself stays as the method saw it.
                rename = self.stream_rename if exc is call.bad_message else self.rename
                failure = failure_of(exc, self.errors, domain=self.domain,
                                     goa_error=self.goa_error, rename=rename,
                                     error_name=self.op.error_name)
                if failure.internal:
                    obs.on_internal({"method": "POST", "path": self.full}, exc, failure.id)
        except BaseException as exc:
            error = exc
            raise
        finally:
            life.finish()
            if outer is not None:
                owner.calls.pop(outer, None)
                if not owner.calls:
                    owner.idle.set()
            code = failure.code.value[0] if failure is not None else (
                1 if error is not None else 0)
            self._finish(start, code, failure, error, span, peer)
            if token is not None:
                detach(token)
            scope.leave(error if isinstance(error, Exception) else None)
        trailers: list[tuple[str, str | bytes]] = [("x-request-id", rid)]
        if failure is not None:
            trailers.append((DETAILS_KEY, failure.details))
            await context.abort(failure.code, failure.message, tuple(trailers))
        context.set_trailing_metadata(tuple(trailers))
        return answer

    def _cancelled(self, reason: str) -> Failure:
        code, name, message = _CANCELLED[reason]
        from bastion.grpc._status import _failure

        return _failure(code, message, name, self.domain, self.goa_error, error=None,
                        temporary=code == 14, timeout=code == 4)

    async def _run(self, call: Call, context: _Context, request: Any,
                   requests: AsyncIterator[Any] | None, metadata: list[tuple[str, Any]],
                   peer: str) -> Any:
        """Build the payload, run the method in its own task, encode what it returns."""
        op = self.op
        values = self.request.decode(request) if self.request is not None else None
        if self.sources:
            values = {} if values is None else values
            read_metadata(self.sources, metadata, values)
        payload = (op.build_payload(values if values is not None else {})
                   if self.takes_payload else None)
        io = None
        if self.streaming:
            io = streams.StreamIO(
                self._incoming(requests, call) if requests is not None else None,
                self._sender(context) if self.rpc.server_streaming else None,
            )
        life = call.lifetime
        loop = asyncio.get_running_loop()

        async def invoke() -> Any:
            if op.secured:
                set_client_address(peer or None)
                rate_limit_decision.set(None)
            stoken = streams.use(io) if io is not None else None
            ltoken = lifetimes.use(life)
            try:
                return await op.call(payload)
            finally:
                lifetimes.reset(ltoken)
                if stoken is not None:
                    streams.reset(stoken)

        task = loop.create_task(invoke())
        call.task = task
        timer = None
        if life.deadline is not None:
            def on_deadline() -> None:
                if not task.done() and life.cancel("deadline"):
                    task.cancel()

            timer = loop.call_later(max(0.0, life.deadline - time.monotonic()), on_deadline)
        try:
            try:
                result = await asyncio.shield(task)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                # grpcio cancelled the call (the client left, its deadline passed): the
                # method stops, unless it is committing, which then finishes on its own.
                if current is not None and current.cancelling() > 0 and life.cancel("client"):
                    task.cancel()
                raise
        finally:
            if timer is not None:
                timer.cancel()
        if self.rpc.server_streaming:
            return None
        return self.response.encode(op.convert_result(result))

    def _incoming(self, requests: AsyncIterator[Any], call: Call) -> streams.Stream[Any]:
        codec = self.stream_in
        op = self.op
        names = self.names
        iterator = requests.__aiter__()
        decode = codec.decode if codec is not None else (lambda pb: pb)

        async def receive() -> Any:
            try:
                pb = await iterator.__anext__()
            except StopAsyncIteration:
                return streams.END
            value = decode(pb)
            try:
                message = op.build_message(value)
            except InvalidPayload as exc:
                call.bad_message = exc  # answered with the stream's field names
                raise
            if log.debug_enabled():
                log.debug("message received", **names)
            return message

        return streams.Stream(receive)

    def _sender(self, context: _Context) -> Callable[[Any], Awaitable[None]]:
        encode = self.response.encode
        convert = self.op.convert_result
        names = self.names

        async def send(item: Any) -> None:
            pb = encode(convert(item))
            await context.write(pb)
            if log.debug_enabled():
                log.debug("message sent", **names)

        return send

    def _finish(self, start: float, code: int, failure: Failure | None,
                error: BaseException | None, span: Any, peer: str) -> None:
        elapsed = time.perf_counter() - start
        obs = self.obs
        if self.owner._duration is not None:
            self.owner._duration.record(elapsed * 1000, {**self.names,
                                                         "rpc.grpc.status_code": code})
        if obs.lines:
            end: dict[str, object] = {**self.names, "rpc.grpc.status_code": code,
                                      "rpc.grpc.status": CODE_NAMES[code],
                                      "client.address": peer,
                                      "rpc.time_ms": round(elapsed * 1000, 3)}
            if failure is not None:
                end["error.type"], end["error.id"] = failure.name, failure.id
            elif error is not None:
                end["error.type"] = "cancelled"
            obs.logger.write_info("end", end, hold=obs.buffered)
        if span is not None:
            span.set_attribute("rpc.grpc.status_code", code)
            if failure is not None:
                span.set_attribute("error.type", failure.name)
                if failure.error is not None:
                    span.record_exception(failure.error)
            if code in _SERVER_ERRORS:
                span.set_status(Status(StatusCode.ERROR, failure.message if failure else ""))
            span.end()


def _telemetry_key() -> Any:
    from bastion.otel._global import TELEMETRY_KEY

    return TELEMETRY_KEY


