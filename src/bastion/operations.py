"""Operations: the design's methods compiled once, for every transport to serve.

This is the seam between Bastion's core and its transports. For each method of the
design, an `Operation` holds what does not depend on how a request arrives:

- the payload's type (a msgspec Struct, or any type the design names), the one a
  transport builds from what it read (`build_payload` for a mapping of attribute values,
  or its own fast path into `payload_type`);
- the call: the method's endpoint chain — endpoint middleware, the security layer
  (credentials are payload attributes), the service method — built once, at startup;
- the result's type, and `convert_result`, which checks what the method returned;
- the design errors the method may raise (`ErrorSpec`: name, flags, description).

What a transport supplies: the payload (values read from its request: path, query,
headers and body for HTTP; message and metadata for gRPC), the caller's address
(`bastion.security.principal.set_client_address`) and the request's `Lifetime`. What it
receives: the result, or an exception to render — a `ServiceError` (a design error, its
flags in `errors`), `Unauthorized`, `Forbidden` or `RateLimited` (the security layer's
typed refusals), `InvalidPayload`, `ResultMismatch`, or anything else (a bug: 500).
How each is rendered — a status and headers, or a gRPC code and trailers — is the
transport's own business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import msgspec

from bastion.dsl.expr import APIExpr, MethodExpr, UserTypeExpr
from bastion.endpoint import Endpoints, ImplementationError, MethodInfo, credential_names
from bastion.endpoint.threads import ThreadRunner
from bastion.errors import BastionError
from bastion.schema.compile import TypeCompiler, py_name
from bastion.schema.formats import dec_hook
from bastion.schema.validate import Collector, FieldError, strip_location
from bastion.security import AuthFailure, RateLimiter, RateLimits, handlers_for, secure
from bastion.security.design import requirements, scheme_kinds
from bastion.types import Endpoint, EndpointMiddleware

__all__ = [
    "ErrorSpec",
    "InvalidPayload",
    "Operation",
    "Operations",
    "ResultMismatch",
    "payload_type_of",
    "result_type_of",
    "stream_type_of",
]

_NOT_A_TYPE = object()


class ResultMismatch(BastionError, TypeError):
    """The method returned a value that does not match the design's result."""


class InvalidPayload(BastionError, ValueError):
    """The values a transport read do not make a valid payload; `errors` names every one.

    Field names are the payload's attribute paths; a transport renames them as its
    clients wrote them (a query parameter, a header, a message field).
    """

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(e.field for e in errors) or "invalid payload")
        self.errors = errors


class ErrorSpec(NamedTuple):
    """A design error a method may raise, as every transport maps it."""

    name: str
    temporary: bool
    timeout: bool
    fault: bool
    description: str


def payload_type_of(method: MethodExpr, compiler: TypeCompiler) -> Any:
    """The type a method's payload is built as (None when it has none).

    Credential attributes are optional whatever `Required` says: a missing credential is
    the security layer's refusal (401, UNAUTHENTICATED), never a validation error.
    """
    payload = method.payload
    if payload is None:
        return None
    if payload.object is None:
        # A non-object payload, e.g. Payload(ArrayOf(Order)).
        return compiler.resolve(compiler.annotation(payload))
    creds = credential_names(payload)
    if isinstance(payload.type, UserTypeExpr) and not creds:
        return compiler.struct(payload.type)
    return compiler.object_struct(_base_name(method) + "Payload", payload, optional=creds)


def result_type_of(method: MethodExpr, compiler: TypeCompiler) -> Any:
    """The type a method's result is checked against (None when it has none)."""
    result = method.result
    if result is None:
        return None
    if isinstance(result.type, UserTypeExpr):
        return compiler.struct(result.type)
    if result.object is not None:
        return compiler.object_struct(_base_name(method) + "Result", result)
    return compiler.resolve(compiler.annotation(result))


def stream_type_of(method: MethodExpr, compiler: TypeCompiler) -> Any:
    """The type each message of a method's client stream is built as (None without one)."""
    attr = method.streaming_payload
    if attr is None:
        return None
    if isinstance(attr.type, UserTypeExpr):
        return compiler.struct(attr.type)
    if attr.object is not None:
        return compiler.object_struct(_base_name(method) + "StreamingPayload", attr)
    return compiler.resolve(compiler.annotation(attr))


def _base_name(method: MethodExpr) -> str:
    return f"{py_name(method.service.name).title()}{py_name(method.name).title()}"


class Operation:
    """One design method, compiled for any transport (see the module docstring)."""

    __slots__ = (
        "_collector",
        "_struct",
        "call",
        "errors",
        "expr",
        "info",
        "name",
        "payload_type",
        "qualified",
        "result_type",
        "secured",
        "service",
        "stream_type",
    )

    def __init__(self, method: MethodExpr, info: MethodInfo, collector: Collector,
                 secured: bool) -> None:
        self.expr = method
        self.info = info
        self.service = method.service.name
        self.name = method.name
        self.qualified = f"{self.service}.{self.name}"
        self.payload_type = info.payload_type
        self.result_type = info.result_type
        #: Whether the security layer runs for it (schemes, or a rate limit).
        self.secured = secured
        self.errors: dict[str, ErrorSpec] = {
            e.name: ErrorSpec(e.name, e.temporary, e.timeout, e.fault, e.description or "")
            for e in method.all_errors()
        }
        #: The type of each message a client streams (`StreamingPayload`), or None.
        self.stream_type: Any = None
        #: The endpoint chain; set when the operations are built, at startup.
        self.call: Endpoint = _not_built(self.qualified)
        self._collector = collector
        # The result's Struct class, or a marker no value's type can be.
        rt = self.result_type
        self._struct: Any = rt if isinstance(rt, type) and issubclass(rt, msgspec.Struct) else (
            _NOT_A_TYPE)

    @property
    def result_struct(self) -> Any:
        """The result's Struct class; a value of exactly this type needs no conversion."""
        return self._struct

    def build_payload(self, values: Mapping[str, Any]) -> Any:
        """The payload from attribute values (strings are converted), or `InvalidPayload`."""
        try:
            return msgspec.convert(values, self.payload_type, strict=False, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            errors: list[FieldError] = []
            payload = self.expr.payload
            if payload is not None and payload.object is not None:
                self._collector.object(dict(values), payload, "", "", errors,
                                       skip_required=self.info.credentials)
            elif payload is not None:
                self._collector.value(values, payload, "", "", errors)
            if not errors:
                errors.append(FieldError("", strip_location(str(exc)), ""))
            raise InvalidPayload(errors) from None

    def build_message(self, value: Any) -> Any:
        """One message of the client's stream, as `stream_type`, or `InvalidPayload`."""
        attr = self.expr.streaming_payload
        try:
            return msgspec.convert(value, self.stream_type, strict=False, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            errors: list[FieldError] = []
            if attr is not None:
                self._collector.value(value, attr, "", "", errors)
            if not errors:
                errors.append(FieldError("", strip_location(str(exc)), ""))
            raise InvalidPayload(errors) from None

    def convert_result(self, result: Any) -> Any:
        """Return `result` as the result type, or raise `ResultMismatch`."""
        if self.result_type is None:
            return None
        if type(result) is self._struct:
            return result
        return self.coerce_result(result)

    def coerce_result(self, result: Any) -> Any:
        """Convert a result that is not the result Struct already (a dict, a row...)."""
        try:
            # Attribute lookup (dataclasses, ORM rows) costs extra: only when needed.
            return msgspec.convert(
                result, self.result_type, from_attributes=type(result) is not dict,
                dec_hook=dec_hook,
            )
        except msgspec.ValidationError as exc:
            raise ResultMismatch(
                f"{self.expr.qualified} returned a result that does not match the design: "
                f"{exc}"
            ) from None


def _not_built(name: str) -> Endpoint:
    async def call(payload: Any) -> Any:
        raise RuntimeError(f"operation {name} is called before the App was built")

    return call


class Operations(Mapping[tuple[str, str], Operation]):
    """Every operation of a design, by (service, method), and each service's endpoints.

    Endpoint middleware is added with `endpoints[service].use(mw)` until `build()` runs
    (the App calls it once, when it starts); the chains are then composed once, each
    operation's `call` set, and further `use` refused.
    """

    def __init__(
        self,
        api: APIExpr,
        services: Mapping[str, object],
        *,
        compiler: TypeCompiler,
        threads: ThreadRunner,
        limiter: RateLimiter,
        limits: RateLimits,
        on_auth_failure: Callable[[AuthFailure], None],
    ) -> None:
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
        self.api = api
        collector = Collector(compiler)
        self.endpoints: dict[str, Endpoints] = {}
        self._operations: dict[tuple[str, str], Operation] = {}
        for svc in api.services.values():
            payloads = {m.name: payload_type_of(m, compiler) for m in svc.methods.values()}
            results = {m.name: result_type_of(m, compiler) for m in svc.methods.values()}
            endpoints = Endpoints(svc, services[svc.name], compiler, payloads, results,
                                  threads=threads)
            self.endpoints[svc.name] = endpoints
            kinds = scheme_kinds(api, svc.name)
            handlers = handlers_for(services[svc.name], kinds, service_name=svc.name)
            reqs = {m.name: requirements(m) for m in svc.methods.values()}
            for m in svc.methods.values():
                secured = bool(reqs[m.name]) or f"{svc.name}.{m.name}" in limits.per_method
                op = self._operations[(svc.name, m.name)] = Operation(
                    m, endpoints.infos[m.name], collector, secured)
                if m.streaming_payload is not None:
                    op.stream_type = stream_type_of(m, compiler)
            endpoints.use_inner(_security_layer(reqs, handlers, threads, limiter, limits,
                                                on_auth_failure))
        self.built = False

    def use(self, middleware: EndpointMiddleware) -> None:
        """Add endpoint middleware to every service (the first added is outermost)."""
        for endpoints in self.endpoints.values():
            endpoints.use(middleware)

    def build(self) -> None:
        """Compose every endpoint chain, once; set each operation's `call`."""
        if self.built:
            return
        for endpoints in self.endpoints.values():
            endpoints.build()
        for (service, name), op in self._operations.items():
            op.call = self.endpoints[service][name]
        self.built = True

    def __getitem__(self, key: tuple[str, str]) -> Operation:
        return self._operations[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._operations)

    def __len__(self) -> int:
        return len(self._operations)


def _security_layer(
    reqs: Mapping[str, Any],
    handlers: Mapping[Any, Any],
    threads: ThreadRunner,
    limiter: RateLimiter,
    limits: RateLimits,
    on_failure: Callable[[AuthFailure], None],
) -> EndpointMiddleware:
    # The innermost endpoint layer: every middleware, the user's included, sees refusals.
    def layer(endpoint: Endpoint, info: MethodInfo) -> Endpoint:
        return secure(
            endpoint,
            reqs[info.name],
            handlers,
            method_name=f"{info.service}.{info.name}",
            on_failure=on_failure,
            limiter=limiter,
            limits=limits,
            threads=threads,
        )

    return layer
