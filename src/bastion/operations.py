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

from bastion.dsl.expr import (
    DEFAULT_VIEW,
    APIExpr,
    AttributeExpr,
    Location,
    MethodExpr,
    UserTypeExpr,
)
from bastion.endpoint import Endpoints, ImplementationError, MethodInfo
from bastion.endpoint.interceptors import interceptor_layer
from bastion.endpoint.threads import ThreadRunner
from bastion.errors import BastionError, ServiceError
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
    "Viewed",
    "payload_type_of",
    "result_type_of",
    "stream_type_of",
]

_NOT_A_TYPE = object()
_NOWHERE = Location("<bastion>", 0)


class ResultMismatch(BastionError, TypeError):
    """The method returned a value (or raised an error value) the design does not describe."""


class Viewed:
    """A result and the view to render it in: `return bastion.Viewed(bottle, "tiny")`.

    For a method whose result type has several views and whose design fixes none, as
    Goa's methods return a view name beside their result. A method returning its result
    alone gets the `default` view, or the view its payload's `view` attribute names.
    """

    __slots__ = ("result", "view")

    def __init__(self, result: Any, view: str) -> None:
        self.result = result
        self.view = view

    def __repr__(self) -> str:
        return f"Viewed({self.result!r}, {self.view!r})"


class _ErrorType(NamedTuple):
    """How a typed error's value is checked: its type and the attributes that matter."""

    annotation: Any
    kind: str  # "string", "object" or "other"
    message: str | None  # the field taking `message` when no value is given
    name: tuple[str, str] | None  # the `struct:error:name` attribute: (field, JSON name)


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
    creds = frozenset(method.credentials())
    if isinstance(payload.type, UserTypeExpr) and not creds:
        return compiler.struct(payload.type)
    return compiler.object_struct(_base_name(method) + "Payload", payload, optional=creds)


def result_type_of(method: MethodExpr, compiler: TypeCompiler) -> Any:
    """The type a method's result is checked against (None when it has none)."""
    if method.result is None:
        return None
    return _value_type(method.result, _base_name(method) + "Result", compiler)


def _value_type(attr: AttributeExpr, name: str, compiler: TypeCompiler) -> Any:
    if isinstance(attr.type, UserTypeExpr):
        return compiler.struct(attr.type)
    if attr.object is not None:
        return compiler.object_struct(name, attr)
    return compiler.resolve(compiler.annotation(attr))


def stream_type_of(method: MethodExpr, compiler: TypeCompiler) -> Any:
    """The type each message of a method's client stream is built as (None without one)."""
    if method.streaming_payload is None:
        return None
    return _value_type(method.streaming_payload, _base_name(method) + "StreamingPayload",
                       compiler)


def _base_name(method: MethodExpr) -> str:
    return f"{py_name(method.service.name).title()}{py_name(method.name).title()}"


class Operation:
    """One design method, compiled for any transport (see the module docstring)."""

    __slots__ = (
        "_collector",
        "_error_types",
        "_renames",
        "_struct",
        "call",
        "checks_results",
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
        "view_field",
        "views",
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
        compiler = collector.compiler
        base = _base_name(method)
        #: Whether results are checked (`ValidateResults(False)` in the design turns it off).
        self.checks_results = method.service.api.validate_results
        #: For a result type whose view the method picks: each view's type, by name.
        self.views: dict[str, Any] = {
            view: _value_type(attr, f"{base}Result{view.title()}", compiler)
            for view, attr in method.result_views.items()
        }
        obj = method.payload.object if method.payload is not None else None
        view_attr = obj.attributes.get("view") if obj is not None and self.views else None
        #: The payload field naming the view a plain result is rendered in (or None).
        self.view_field: str | None = view_attr.field_name if view_attr is not None else None
        # Attribute names whose JSON name differs (`struct:tag:json`): values a transport
        # gives by attribute name are converted by JSON name.
        self._renames: dict[str, str] = {
            a.name: a.wire_name for a in (obj.attributes.values() if obj else ())
            if a.wire_name != a.name
        }
        self._error_types: dict[str, _ErrorType] = {
            e.name: _error_type(e.type, f"{base}{py_name(e.name).title()}Error", compiler)
            for e in method.all_errors() if e.typed and e.type is not None
        }

    @property
    def result_struct(self) -> Any:
        """The result's Struct class; a value of exactly this type needs no conversion."""
        return self._struct

    def build_payload(self, values: Mapping[str, Any]) -> Any:
        """The payload from attribute values (strings are converted), or `InvalidPayload`."""
        if self._renames:
            values = {self._renames.get(k, k): v for k, v in values.items()}
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
        if type(result) is Viewed:
            result = self._unview(result)
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

    def _unview(self, result: Viewed) -> Any:
        # A method whose design fixes the view may say it too, if it says the same.
        fixed = self.expr.result.view if self.expr.result is not None else None
        if result.view != (fixed or DEFAULT_VIEW):
            raise ResultMismatch(
                f"{self.expr.qualified} returned view {result.view!r}; the design renders "
                f"its result in view {fixed or DEFAULT_VIEW!r}")
        return result.result

    def render(self, result: Any) -> tuple[str, Any]:
        """The view a result is in and the result as that view's type (or `ResultMismatch`).

        For a method whose result type's views it picks (`views`): a `Viewed` result
        names its view, any other is in the `default` view.
        """
        view = DEFAULT_VIEW
        if type(result) is Viewed:
            view, result = result.view, result.result
        target = self.views.get(view)
        if target is None:
            raise ResultMismatch(
                f"{self.expr.qualified} returned view {view!r}, which its result type does "
                f"not have (views: {', '.join(self.views)})")
        return view, self._coerce(target, result)

    def _coerce(self, target: Any, result: Any) -> Any:
        if type(result) is target:
            return result
        try:
            # Attribute lookup (dataclasses, ORM rows) costs extra: only when needed.
            return msgspec.convert(
                result, target, from_attributes=type(result) is not dict,
                dec_hook=dec_hook,
            )
        except msgspec.ValidationError as exc:
            raise ResultMismatch(
                f"{self.expr.qualified} returned a result that does not match the design: "
                f"{exc}"
            ) from None

    def error_name(self, err: ServiceError) -> str | None:
        """The name of a design error raised without one, read from its value's
        `struct:error:name` attribute (None when no typed error of the method says).
        """
        if err.name is not None:
            return err.name
        value = err.value
        for spec in self._error_types.values():
            if spec.name is None or value is None:
                continue
            field, wire = spec.name
            found = value.get(wire, value.get(field)) if isinstance(value, dict) else getattr(
                value, field, None)
            if isinstance(found, str) and found in self.errors:
                return found
        return None

    def error_value(self, name: str, err: ServiceError) -> Any:
        """The value of typed design error `name` as its type, or `ResultMismatch`.

        Without a value, a `String` error is its message, an object type gets the message
        in its `message` attribute (and the name in its `struct:error:name` one).
        """
        spec = self._error_types[name]
        value = err.value
        if value is None:
            if spec.kind == "string":
                value = err.message
            elif spec.kind == "object":
                value = {}
                if spec.message is not None:
                    value[spec.message] = err.message
                if spec.name is not None:
                    value[spec.name[1]] = name
        try:
            return msgspec.convert(value, spec.annotation, dec_hook=dec_hook,
                                   from_attributes=spec.kind == "object"
                                   and not isinstance(value, dict))
        except msgspec.ValidationError as exc:
            raise ResultMismatch(
                f"{self.expr.qualified} raised error {name!r} with a value that does not match "
                f"its type: {exc}"
            ) from None


def _error_type(t: Any, name: str, compiler: TypeCompiler) -> _ErrorType:
    attr = AttributeExpr(name=name, type=t, location=_NOWHERE)
    annotation = _value_type(attr, name, compiler)
    obj = attr.object
    if obj is None:
        kind = "string" if getattr(t, "kind", None) == "string" else "other"
        return _ErrorType(annotation, kind, None, None)
    message = obj.attributes.get("message")
    marked = next((a for a in obj.attributes.values() if "struct:error:name" in a.meta), None)
    return _ErrorType(
        annotation, "object",
        message.wire_name if message is not None else None,
        (marked.field_name, marked.wire_name) if marked is not None else None,
    )


def _view_of_payload(call: Endpoint, field: str) -> Endpoint:
    """The endpoint `call`, its plain results rendered in the view the payload names."""

    async def viewed(payload: Any) -> Any:
        result = await call(payload)
        if type(result) is Viewed:
            return result
        view = getattr(payload, field, None)
        return Viewed(result, view) if view else result

    return viewed


def _unviewed(result: Any) -> Any:
    return result.result if type(result) is Viewed else result


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
        interceptors: Mapping[str, object] | None = None,
    ) -> None:
        interceptors = interceptors or {}
        unknown = (set(services) | set(interceptors)) - set(api.services)
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
            # The design's server interceptors run outside the security layer, as Goa's
            # wrap the endpoint that authenticates.
            layer = interceptor_layer(
                svc, interceptors.get(svc.name), endpoints.infos,
                {m: self._operations[(svc.name, m)].stream_type for m in svc.methods},
                unwrap=_unviewed)
            if layer is not None:
                endpoints.use_inner(layer)
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
            if op.view_field is not None:
                op.call = _view_of_payload(op.call, op.view_field)
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
