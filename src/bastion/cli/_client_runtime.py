"""The runtime of a client written by `bastion gen client`: HTTP, auth, errors, retries, traces.

`bastion gen client` copies this module, as it is, into every client package it writes
(as `_runtime.py`); the package's generated modules call it and re-export its public
names. It needs httpx, msgspec and the OpenTelemetry API, never Bastion itself, so a
client can be handed to any Python program. Nothing here keeps state between calls
but the sessions themselves.

What it does for every call of a generated method:

- places each credential where the design's HTTP mapping puts it (a header, the query,
  a cookie, or `Authorization` for Basic and bearer schemes), taking the first of the
  method's security alternatives whose credentials the session holds;
- injects the current OpenTelemetry context (`traceparent`) with the propagation API,
  inside a client span of the session's tracer (a no-op without an SDK);
- decodes the result with msgspec, or raises an `APIError`: the design error the
  `Goa-Error` header names, or one chosen by status, with the error body decoded;
- retries what may be retried (see `Retry`), within a bounded number of attempts and
  a bounded total time.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import http.cookiejar
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar
from urllib.parse import quote

import anyio
import httpx
import msgspec
from opentelemetry import propagate, trace

__all__ = [
    "APIError",
    "APIKeyAuth",
    "AsyncSession",
    "BadRequest",
    "BasicAuth",
    "BearerAuth",
    "Credential",
    "ErrorBody",
    "FieldError",
    "Forbidden",
    "Operation",
    "Request",
    "Retry",
    "ServerError",
    "ServiceError",
    "ServiceUnavailable",
    "Session",
    "TooManyRequests",
    "Unauthorized",
    "UnexpectedResponse",
]

T = TypeVar("T")
P = TypeVar("P")

#: Where a credential travels: `bearer` and `basic` are the `Authorization` header.
Where = Literal["bearer", "basic", "header", "query", "cookie"]

_JSON = msgspec.json.Encoder()
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
# Statuses a proxy or an overloaded server answers before running anything: an
# idempotent request may be sent again whatever the body says.
_GATEWAY = frozenset({502, 503, 504})
# Errors raised before the request left: safe to retry whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


# ---------------------------------------------------------------------------- errors


class FieldError(msgspec.Struct, kw_only=True):
    """One invalid field of a request, as the server names it in a 400."""

    #: The field, as the request spelled it (`amount`, `order.customer`, `X-API-Key`).
    field: str
    #: Where it was read: path, query, header, cookie or body.
    where: str = msgspec.field(name="in", default="body")
    #: Why it is invalid.
    message: str = ""


class ErrorBody(msgspec.Struct, kw_only=True):
    """The body of Bastion's (and Goa's) error responses."""

    name: str
    id: str = ""
    message: str = ""
    temporary: bool = False
    timeout: bool = False
    fault: bool = False
    field: str | None = None
    errors: list[FieldError] = []
    details: Any = None


_ERROR_BODY = msgspec.json.Decoder(ErrorBody)


class APIError(Exception):
    """An error response: its status, headers, decoded body and the server's request id.

    Every error a generated method raises for an answer of the server is one; the
    subclasses say which (a design error of the method, a 400, a 401, a 429…).
    Transport failures (no connection, a timeout) are httpx's own exceptions.
    """

    def __init__(self, response: httpx.Response, message: str | None = None) -> None:
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self.content = response.content
        self.request_id: str | None = response.headers.get("x-request-id")
        self.body: ErrorBody | None = _error_body(response)
        body = self.body
        self.name = body.name if body is not None else (
            response.headers.get("goa-error") or _status_name(self.status))
        self.message = message or (body.message if body is not None else response.reason_phrase)
        self.id = body.id if body is not None else ""
        self.field = body.field if body is not None else None
        self.errors: list[FieldError] = list(body.errors) if body is not None else []
        self.details: Any = body.details if body is not None else None
        self.temporary = body.temporary if body is not None else self.status in (429, 503)
        self.timeout = body.timeout if body is not None else False
        self.fault = body.fault if body is not None else self.status >= 500
        self.retry_after = retry_after(response.headers.get("retry-after"))
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.status} {self.name}: {self.message}"
        if self.request_id:
            text += f" (request {self.request_id})"
        return text


class BadRequest(APIError):
    """400: the server refused the request's values; `errors` names every bad field."""

    def __str__(self) -> str:
        text = super().__str__()
        if self.errors:
            text += "".join(f"\n  {e.field} ({e.where}): {e.message}" for e in self.errors)
        return text

    @property
    def fields(self) -> list[str]:
        """The names of the invalid fields, in the order the server gave them."""
        return [e.field for e in self.errors]


class Unauthorized(APIError):
    """401: the credentials are missing or invalid; `www_authenticate` names the schemes."""

    @property
    def www_authenticate(self) -> str | None:
        """The `WWW-Authenticate` header: the schemes the server accepts."""
        value: str | None = self.headers.get("www-authenticate")
        return value


class Forbidden(APIError):
    """403: the credentials are valid but not enough (the message names missing scopes)."""


class TooManyRequests(APIError):
    """429: a rate limit or a lockout refused the request; see `retry_after`."""


class ServerError(APIError):
    """A 5xx answer that is no design error of the method."""


class ServiceUnavailable(ServerError):
    """503: the server is overloaded, timed out writing the answer, or shutting down."""


class UnexpectedResponse(APIError):
    """A success status whose body is not the method's result type."""


class ServiceError(APIError):
    """A design error of the method, chosen by the response's `Goa-Error` header.

    Generated subclasses set `error_name` and the flags the design declares; one with a
    type of its own decodes the body into `value`.
    """

    error_name: ClassVar[str] = ""
    declared_temporary: ClassVar[bool] = False
    declared_timeout: ClassVar[bool] = False
    declared_fault: ClassVar[bool] = False
    #: The type of the error's body when the design gives it one (None: the error body).
    value_type: ClassVar[Any] = None

    def __init__(self, response: httpx.Response, message: str | None = None) -> None:
        self.value: Any = None
        if self.value_type is not None:
            try:
                self.value = msgspec.json.decode(response.content, type=self.value_type)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.value = None
        super().__init__(response, message)
        self.name = self.error_name or self.name
        if self.body is None:
            self.temporary = self.declared_temporary
            self.timeout = self.declared_timeout
            self.fault = self.declared_fault


def _error_body(response: httpx.Response) -> ErrorBody | None:
    if not response.content:
        return None
    try:
        return _ERROR_BODY.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _status_name(status: int) -> str:
    try:
        return httpx.codes(status).name.lower()
    except ValueError:
        return "error"


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def error_for(response: httpx.Response, errors: Mapping[str, type[ServiceError]]) -> APIError:
    """The exception for an error response: the design error it names, or by status."""
    name = response.headers.get("goa-error")
    if name is not None:
        cls = errors.get(name)
        if cls is not None:
            return cls(response)
    by_status = _BY_STATUS.get(response.status_code)
    if by_status is not None:
        return by_status(response)
    if response.status_code >= 500:
        return ServerError(response)
    return APIError(response)


def retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds: delay-seconds or an HTTP date; None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


# ---------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class Retry:
    """When and how often a call is sent again.

    A call is retried when the answer says it may be — an error body with `temporary`
    true, or a 429 — or, for idempotent methods (GET, HEAD, PUT, DELETE), on a 502, 503
    or 504 and on a connection or read failure. A non-idempotent call whose error says
    `timeout` is never retried: the server may have done the work. A connection that
    could not be opened is retried whatever the method, since nothing was sent.

    The wait is `Retry-After` when the server sends one, else an exponential backoff
    with jitter (`backoff`, doubling, at most `max_backoff`). `attempts` bounds the
    number of requests, `total` the seconds from the first request to the last one
    sent: a wait that would end past it is not taken, and the last error is raised.
    """

    attempts: int = 3
    total: float = 30.0
    backoff: float = 0.2
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Retry(attempts={self.attempts}): at least 1 attempt")
        if self.total < 0 or self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("Retry: total, backoff and max_backoff must not be negative")

    @classmethod
    def never(cls) -> Retry:
        """One attempt: every error is raised at once."""
        return cls(attempts=1)

    def allows(self, error: APIError | Exception, *, idempotent: bool) -> bool:
        """Whether `error` (an answer or an httpx failure) may be retried at all."""
        if isinstance(error, APIError):
            if error.status == 429:
                return True
            if error.temporary and (idempotent or not error.timeout):
                return True
            return idempotent and error.status in _GATEWAY
        if isinstance(error, _NOT_SENT):
            return True
        return idempotent and isinstance(error, httpx.TransportError)

    def wait(self, attempt: int, elapsed: float, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up.

        `attempt` counts the requests sent so far, `elapsed` the seconds since the first.
        """
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: clients that failed together spread
        if elapsed + delay > self.total:
            return None
        return delay


# ---------------------------------------------------------------------------- auth


class Credential:
    """A credential of one of the design's security schemes (`scheme` is its name).

    Values may be callables, called for every request: a token that refreshes itself.
    """

    scheme: ClassVar[str] = ""

    def apply(self, where: Where, name: str, request: Request) -> None:
        """Put the credential into `request` at `where`/`name`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        # Never the secret itself: a credential ends up in logs and tracebacks.
        return f"{type(self).__name__}(scheme={self.scheme!r})"


def _value(value: str | Callable[[], str]) -> str:
    return value() if callable(value) else value


class APIKeyAuth(Credential):
    """An API key: sent in the header, query parameter or cookie the design maps it to."""

    def __init__(self, key: str | Callable[[], str]) -> None:
        self._key = key

    def apply(self, where: Where, name: str, request: Request) -> None:
        """Put the key at `where`/`name`."""
        key = _value(self._key)
        if where == "query":
            request.params.append((name, key))
        elif where == "cookie":
            request.cookies.append((name, key))
        else:
            request.headers.append((name, key))


class BearerAuth(Credential):
    """A bearer token (JWT or OAuth2 access token): `Authorization: Bearer <token>`."""

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token

    def apply(self, where: Where, name: str, request: Request) -> None:
        """Put the token in `Authorization`, or where the design maps it."""
        token = _value(self._token)
        if where == "bearer":
            request.headers.append(("Authorization", f"Bearer {token}"))
        elif where == "query":
            request.params.append((name, token))
        elif where == "cookie":
            request.cookies.append((name, token))
        else:
            request.headers.append((name, token))


class BasicAuth(Credential):
    """A user name and password: `Authorization: Basic <base64(user:password)>`."""

    def __init__(self, username: str, password: str | Callable[[], str]) -> None:
        self._username = username
        self._password = password

    def apply(self, where: Where, name: str, request: Request) -> None:
        """Put the pair in `Authorization`."""
        pair = f"{self._username}:{_value(self._password)}".encode()
        request.headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode()))


# ---------------------------------------------------------------------------- requests


@dataclass
class Request:
    """One HTTP request of a method, built from its payload by the generated code."""

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[tuple[str, str]] = field(default_factory=list)
    content: bytes | None = None

    def copy(self) -> Request:
        """A copy whose lists can be extended (credentials are added per attempt)."""
        return Request(self.method, self.path, list(self.params), list(self.headers),
                       list(self.cookies), self.content)


@dataclass(frozen=True)
class Operation(Generic[T]):
    """What the runtime needs to know of one design method, built once at import."""

    #: `service.method`, as the design names it.
    name: str
    method: str
    #: The route as the design writes it (`/orders/{id}`): the client span's name.
    route: str
    decode: Callable[[httpx.Response], T]
    #: The security alternatives, each the names of the schemes it needs together.
    requirements: tuple[tuple[str, ...], ...] = ()
    #: Where each scheme's credential travels for this method.
    credentials: Mapping[str, tuple[Where, str]] = field(default_factory=dict)
    #: The method's design errors by name, as `Goa-Error` names them.
    errors: Mapping[str, type[ServiceError]] = field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        """Whether sending the request twice does what sending it once does."""
        return self.method in _IDEMPOTENT


def text(value: Any) -> str:
    """A parameter's value as the server reads it from a path, query, header or cookie."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def segment(value: Any) -> str:
    """A path parameter, percent-encoded whole: a `/` in it stays inside its segment."""
    return quote(text(value), safe="")


def rest(value: Any) -> str:
    """A `{*wildcard}` path parameter: its slashes separate segments."""
    return quote(text(value), safe="/")


def params(*pairs: tuple[str, Any]) -> list[tuple[str, str]]:
    """Query parameters: None is left out, a list repeats its name (`?tag=a&tag=b`)."""
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out.extend((name, text(v)) for v in value)
        else:
            out.append((name, text(value)))
    return out


def headers(*pairs: tuple[str, Any]) -> list[tuple[str, str]]:
    """Headers or cookies: None is left out, a list is one comma-separated value."""
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out.append((name, ", ".join(text(v) for v in value)))
        else:
            out.append((name, text(value)))
    return out


def json_body(value: Any) -> bytes | None:
    """The JSON body of one value (a Struct, a list…); None sends no body."""
    return None if value is None else _JSON.encode(value)


def json_object(*pairs: tuple[str, Any]) -> bytes | None:
    """A JSON object of the given (wire name, value) pairs, None values left out."""
    data = {name: value for name, value in pairs if value is not None}
    return _JSON.encode(data)


def payload(cls: Callable[..., P], given: P | None, fields: Mapping[str, Any]) -> P:
    """The payload of a call: the Struct passed, or one built from keyword arguments."""
    if given is not None:
        if fields:
            raise TypeError("pass the payload or its fields as keyword arguments, not both")
        return given
    return cls(**fields)


def mapped(
    response: httpx.Response, header_fields: Sequence[tuple[str, str]], body_field: str | None
) -> dict[str, Any]:
    """The data of a result some of whose attributes travel in headers, to be converted.

    `header_fields` pairs each attribute's wire name with its header; `body_field` names
    the attribute the whole body is, when the design makes one the body. Header values
    stay text: the caller converts with `strict=False`, reading "3" as 3 as the server
    wrote it.
    """
    data: dict[str, Any] = {}
    if response.content:
        value = msgspec.json.decode(response.content)
        if body_field is not None:
            data[body_field] = value
        elif isinstance(value, dict):
            data.update(value)
        else:
            raise msgspec.ValidationError("Expected `object`")
    for wire, header in header_fields:
        found = response.headers.get(header)
        if found is not None:
            data[wire] = found
    return data


def no_result(response: httpx.Response) -> None:
    """A method without a result: the body, if any, is ignored."""


# ---------------------------------------------------------------------------- sessions


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    # The design says which cookies a request carries: none is kept from answers.
    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class _Base:
    """What both sessions share: options, credentials, request building, the tracer."""

    #: The instrumentation scope of the client spans (a generated client's package).
    instrumentation: ClassVar[str] = "bastion.client"
    #: The `User-Agent` sent unless `user_agent` is given.
    default_user_agent: ClassVar[str] = "bastion-client"

    def __init__(
        self,
        base_url: str,
        *,
        auth: Iterable[Credential],
        retry: Retry | None,
        tracer_provider: trace.TracerProvider | None,
        user_agent: str | None,
    ) -> None:
        self.base_url = base_url
        self.retry = retry if retry is not None else Retry()
        self._auth: dict[str, Credential] = {}
        for credential in auth:
            if not credential.scheme:
                raise TypeError(f"{credential!r} names no security scheme; use the "
                                "package's auth classes")
            if credential.scheme in self._auth:
                raise ValueError(f"two credentials for scheme {credential.scheme!r}")
            self._auth[credential.scheme] = credential
        self._tracer = trace.get_tracer(self.instrumentation, tracer_provider=tracer_provider)
        self._user_agent = user_agent or self.default_user_agent
        self._cookies = http.cookiejar.CookieJar(policy=_NoCookies())

    def _prepare(self, op: Operation[Any], request: Request) -> Request:
        out = request.copy()
        for alternative in op.requirements:
            if all(scheme in self._auth for scheme in alternative):
                for scheme in alternative:
                    where, name = op.credentials[scheme]
                    self._auth[scheme].apply(where, name, out)
                break
        return out

    def _headers(self, request: Request) -> list[tuple[str, str]]:
        out = [("User-Agent", self._user_agent), *request.headers]
        if request.cookies:
            out.append(("Cookie", "; ".join(f"{k}={v}" for k, v in request.cookies)))
        if request.content is not None:
            out.append(("Content-Type", "application/json"))
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # the current span: the client span around the call
        out.extend(carrier.items())
        return out

    def _span(self, op: Operation[Any], attempt: int) -> Any:
        attributes: dict[str, Any] = {
            "http.request.method": op.method, "url.template": op.route,
            "rpc.method": op.name,
        }
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        return self._tracer.start_as_current_span(
            f"{op.method} {op.route}", kind=trace.SpanKind.CLIENT, attributes=attributes)

    @staticmethod
    def _record(span: trace.Span, response: httpx.Response) -> None:
        span.set_attribute("http.response.status_code", response.status_code)
        span.set_attribute("url.full", str(response.request.url))
        if response.status_code >= 400:
            span.set_attribute("error.type", str(response.status_code))
            span.set_status(trace.StatusCode.ERROR)

    def _wait(self, error: Exception, op: Operation[Any], attempt: int, started: float,
              after: float | None) -> float | None:
        if not self.retry.allows(error, idempotent=op.idempotent):
            return None
        return self.retry.wait(attempt, time.monotonic() - started, after)

    @staticmethod
    def _result(op: Operation[T], response: httpx.Response) -> T:
        try:
            return op.decode(response)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UnexpectedResponse(
                response, f"the answer of {op.name} is not its result: {exc}") from None


class Session(_Base):
    """A connection to the API (httpx, sync): base URL, credentials, retries, timeouts.

    Close it when done (`with Session(...) as session:`); the generated clients use one.
    `transport` replaces httpx's (a mounted app, a proxy); `tracer_provider` the global
    OpenTelemetry one.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Iterable[Credential] = (),
        retry: Retry | None = None,
        timeout: float | httpx.Timeout = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        user_agent: str | None = None,
    ) -> None:
        super().__init__(base_url, auth=auth, retry=retry, tracer_provider=tracer_provider,
                         user_agent=user_agent)
        self._http = httpx.Client(base_url=base_url, timeout=timeout, headers=headers,
                                  transport=transport, cookies=self._cookies)

    def call(self, op: Operation[T], request: Request) -> T:
        """Send `request` for `op` (retrying as `retry` allows); its result or an error."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(op, request, attempt)
            except httpx.TransportError as exc:
                wait = self._wait(exc, op, attempt, started, None)
                if wait is None:
                    raise
                time.sleep(wait)
                continue
            if response.is_success:
                return self._result(op, response)
            error = error_for(response, op.errors)
            wait = self._wait(error, op, attempt, started, error.retry_after)
            if wait is None:
                raise error
            time.sleep(wait)

    def _send(self, op: Operation[Any], request: Request, attempt: int) -> httpx.Response:
        prepared = self._prepare(op, request)
        with self._span(op, attempt) as span:
            response = self._http.request(
                prepared.method, prepared.path, params=tuple(prepared.params) or None,
                headers=self._headers(prepared), content=prepared.content)
            self._record(span, response)
            return response

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncSession(_Base):
    """A connection to the API (httpx, async): base URL, credentials, retries, timeouts.

    Close it when done (`async with AsyncSession(...) as session:`). Waits between
    attempts sleep with anyio, so asyncio and trio both work.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Iterable[Credential] = (),
        retry: Retry | None = None,
        timeout: float | httpx.Timeout = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        user_agent: str | None = None,
    ) -> None:
        super().__init__(base_url, auth=auth, retry=retry, tracer_provider=tracer_provider,
                         user_agent=user_agent)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers,
                                       transport=transport, cookies=self._cookies)

    async def call(self, op: Operation[T], request: Request) -> T:
        """Send `request` for `op` (retrying as `retry` allows); its result or an error."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(op, request, attempt)
            except httpx.TransportError as exc:
                wait = self._wait(exc, op, attempt, started, None)
                if wait is None:
                    raise
                await anyio.sleep(wait)
                continue
            if response.is_success:
                return self._result(op, response)
            error = error_for(response, op.errors)
            wait = self._wait(error, op, attempt, started, error.retry_after)
            if wait is None:
                raise error
            await anyio.sleep(wait)

    async def _send(self, op: Operation[Any], request: Request, attempt: int) -> httpx.Response:
        prepared = self._prepare(op, request)
        with self._span(op, attempt) as span:
            response = await self._http.request(
                prepared.method, prepared.path, params=tuple(prepared.params) or None,
                headers=self._headers(prepared), content=prepared.content)
            self._record(span, response)
            return response

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

