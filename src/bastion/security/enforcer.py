"""Enforcing a method's security: credentials from the payload, auth handlers, scopes, limits.

`secure` compiles one method's requirements once, at startup, into an endpoint wrapper; the
wrapper does no lookups by name on the hot path. It knows nothing of the transport: the
credential is a payload attribute and the caller's address comes from `client_address`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anyio.to_thread

from bastion.errors import DesignError, Forbidden, Unauthorized
from bastion.security.errors import AuthenticationError, AuthorizationError, RateLimited
from bastion.security.handlers import HANDLER_NAMES, SIGNATURES, Handler, is_async
from bastion.security.principal import _enter, _leave, client_address, normalize_scopes
from bastion.security.ratelimit import Decision, RateLimit, RateLimiter, rate_limit_decision
from bastion.security.scheme import Requirement, Scheme, SchemeRef
from bastion.types import Endpoint

__all__ = ["AuthFailure", "RateLimits", "secure"]

_log = logging.getLogger("bastion.security")


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """One refused call, for logs and the `bastion.auth.failures{scheme,reason}` metric.

    `reason` is one of `bastion.security.REASONS`; no field ever holds a credential.
    """

    scheme: str
    kind: str
    method: str
    client: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limits the enforcer applies, owned by the App and shared by its methods.

    `per_scheme` limits requests per principal (its `subject`, else its credential) for
    each scheme name, across methods; `per_method` limits calls of one method (by the name
    given to `secure`) per principal, or per client address for a public method.
    `failures_per_client` and `failures_per_credential` count failed authentications per
    client address and per credential (the username for Basic) and refuse further tries,
    before any handler runs, once exhausted. Request limits fail open by default when the
    storage is down, failure limits fail closed: see docs/security.md.
    """

    per_scheme: Mapping[str, RateLimit | str] = field(default_factory=dict)
    per_method: Mapping[str, RateLimit | str] = field(default_factory=dict)
    failures_per_client: RateLimit | str | None = "30/minute"
    failures_per_credential: RateLimit | str | None = "10/minute"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "per_scheme", {k: RateLimit.of(v) for k, v in self.per_scheme.items()}
        )
        object.__setattr__(
            self, "per_method", {k: RateLimit.of(v) for k, v in self.per_method.items()}
        )
        for name in ("failures_per_client", "failures_per_credential"):
            value = getattr(self, name)
            if isinstance(value, str):
                # A brute-force limit that cannot be checked refuses: fail closed.
                object.__setattr__(self, name, RateLimit(value, fail_open=False))


@dataclass(frozen=True, slots=True)
class _Step:
    scheme: Scheme  # as passed to the handler: required_scopes filled in
    ref: SchemeRef
    handler: Handler
    is_async: bool


@dataclass(frozen=True, slots=True)
class _Compiled:
    steps: tuple[_Step, ...]
    scopes: tuple[str, ...]


def _compile(
    requirements: Sequence[Requirement], handlers: Mapping[str, Handler], method: str
) -> tuple[_Compiled, ...]:
    out: list[_Compiled] = []
    for req in requirements:
        if not req.schemes:
            raise DesignError(f"method {method!r}: a security requirement has no scheme")
        steps: list[_Step] = []
        for ref in req.schemes:
            sch = ref.scheme
            if sch.kind == "basic":
                ok = (
                    isinstance(ref.credential, tuple)
                    and len(ref.credential) == 2
                    and all(isinstance(a, str) and a for a in ref.credential)
                )
                shape = "a (username_attribute, password_attribute) pair"
            else:
                ok = isinstance(ref.credential, str) and bool(ref.credential)
                shape = "the name of the payload attribute holding it"
            if not ok:
                raise DesignError(
                    f"method {method!r}: the credential of scheme {sch.name!r} must be {shape}"
                )
            handler = handlers.get(sch.kind)
            if handler is None:
                raise DesignError(
                    f"method {method!r}: no auth handler for scheme {sch.name!r}; the service "
                    f"must define `{SIGNATURES[sch.kind]}`"
                )
            required = tuple(dict.fromkeys((*req.scopes, *sch.required_scopes)))
            steps.append(
                _Step(replace(sch, required_scopes=required), ref, handler, is_async(handler))
            )
        out.append(_Compiled(tuple(steps), tuple(dict.fromkeys(req.scopes))))
    return tuple(out)


def _get(payload: Any, attr: str) -> Any:
    if isinstance(payload, Mapping):
        return payload.get(attr)
    return getattr(payload, attr, None)


def _credential(payload: Any, ref: SchemeRef) -> tuple[str, ...] | None:
    # The handler's leading arguments, or None when the credential is missing.
    if isinstance(ref.credential, tuple):
        username = _get(payload, ref.credential[0])
        password = _get(payload, ref.credential[1])
        if not isinstance(username, str) or not username or not isinstance(password, str):
            return None
        return (username, password)
    value = _get(payload, ref.credential)
    if not isinstance(value, str) or not value:
        return None
    return (value,)


def _fingerprint(step: _Step, args: tuple[str, ...]) -> str:
    # What brute-force counters are keyed by: the username for Basic (passwords change on
    # every guess), the credential otherwise. A digest: the counters live in Redis.
    return f"{step.scheme.name}:{hashlib.sha256(args[0].encode()).hexdigest()[:32]}"


async def _call_handler(step: _Step, args: tuple[str, ...]) -> Any:
    if step.is_async:
        result = await step.handler(*args, step.scheme)
    else:
        result = await anyio.to_thread.run_sync(functools.partial(step.handler, *args, step.scheme))
        if inspect.isawaitable(result):
            result = await result
    return result


class _Enforcer:
    def __init__(
        self,
        endpoint: Endpoint,
        compiled: tuple[_Compiled, ...],
        *,
        method: str,
        on_failure: Callable[[AuthFailure], None] | None,
        limiter: RateLimiter | None,
        limits: RateLimits,
    ) -> None:
        self.endpoint = endpoint
        self.compiled = compiled
        self.method = method
        self.on_failure = on_failure
        self.limiter = limiter
        self.kinds = tuple(dict.fromkeys(s.scheme.kind for c in compiled for s in c.steps))
        self.first = compiled[0].steps[0].scheme
        self.per_scheme: dict[str, RateLimit] = {}
        self.method_limit: RateLimit | None = None
        self.fail_client: RateLimit | None = None
        self.fail_credential: RateLimit | None = None
        # Attempts being verified right now, per lockout key: a peek alone would let a
        # burst of parallel guesses all pass before the first failure is counted.
        self._pending: dict[str, int] = {}
        if limiter is not None:
            names = {s.scheme.name for c in compiled for s in c.steps}
            self.per_scheme = {
                k: RateLimit.of(v) for k, v in limits.per_scheme.items() if k in names
            }
            ml = limits.per_method.get(method)
            self.method_limit = RateLimit.of(ml) if ml is not None else None
            fc, fk = limits.failures_per_client, limits.failures_per_credential
            self.fail_client = RateLimit.of(fc) if fc is not None else None
            self.fail_credential = RateLimit.of(fk) if fk is not None else None

    def _report(self, scheme: Scheme, reason: str, client: str | None) -> None:
        self._report_as(scheme.name, scheme.kind, reason, client)

    def _report_as(self, name: str, kind: str, reason: str, client: str | None) -> None:
        if self.on_failure is None:
            return
        try:
            self.on_failure(AuthFailure(name, kind, self.method, client, reason))
        except Exception:
            # A broken hook must not turn a 401 into a 500; it is logged, without payload.
            _log.exception("auth failure hook raised for method %s", self.method)

    async def __call__(self, payload: Any) -> Any:
        client = client_address.get()
        reserved: list[str] = []
        if self.limiter is not None:
            presented = [
                (step, args)
                for c in self.compiled
                for step in c.steps
                if (args := _credential(payload, step.ref)) is not None
            ]
            reserved = await self._check_lockout(presented, client)

        last: AuthenticationError | AuthorizationError | None = None
        rejected: dict[str, Scheme] = {}
        for comp in self.compiled:
            try:
                first, by_scheme = await self._authenticate(comp, payload, rejected)
            except (AuthenticationError, AuthorizationError) as exc:
                last = exc
                continue
            except BaseException:
                self._release(reserved)
                raise
            self._release(reserved)
            reserved = []
            if self.limiter is not None:
                await self._check_requests(comp, by_scheme, payload, client)
            token = _enter(first, by_scheme)
            try:
                return await self.endpoint(payload)
            finally:
                _leave(token)

        if last is None:  # pragma: no cover - compiled is never empty
            raise AssertionError("no security requirement was evaluated")
        try:
            if self.limiter is not None and rejected:
                await self._count_failures(rejected, client)
        finally:
            self._release(reserved)
        if isinstance(last, AuthenticationError):
            last.alternatives = self.kinds
        self._report_as(
            last.scheme or self.first.name, last.kind or self.first.kind, last.reason, client
        )
        raise last

    async def _authenticate(
        self, comp: _Compiled, payload: Any, rejected: dict[str, Scheme]
    ) -> tuple[Any, dict[str, Any]]:
        by_scheme: dict[str, Any] = {}
        first: Any = None
        for step in comp.steps:
            sch = step.scheme
            args = _credential(payload, step.ref)
            if args is None:
                raise AuthenticationError(
                    f"missing credential for {sch.name}",
                    reason="missing",
                    scheme=sch.name,
                    kind=sch.kind,
                )
            try:
                principal = await _call_handler(step, args)
            except AuthenticationError as exc:
                # Only a rejected credential is a guess. An expired one was valid once: a
                # crowd of stale tokens behind one NAT address must not lock it out.
                if exc.reason == "invalid":
                    rejected[_fingerprint(step, args)] = sch
                raise AuthenticationError(
                    exc.message, reason=exc.reason, scheme=sch.name, kind=sch.kind
                ) from None
            except Unauthorized as exc:
                rejected[_fingerprint(step, args)] = sch
                raise AuthenticationError(
                    exc.message, reason="invalid", scheme=sch.name, kind=sch.kind
                ) from None
            except Forbidden as exc:
                raise AuthorizationError(
                    exc.message,
                    missing_scopes=exc.missing_scopes,
                    required_scopes=sch.required_scopes,
                    scheme=sch.name,
                    kind=sch.kind,
                    reason=getattr(exc, "reason", "forbidden"),
                ) from None
            if principal is None:
                # Most likely a missing `return`: a bug to surface (500), never a pass.
                raise TypeError(
                    f"the {HANDLER_NAMES[sch.kind]} handler returned None for scheme "
                    f"{sch.name!r}; it must return a principal or raise Unauthorized"
                )
            if first is None:
                first = principal
            by_scheme[sch.name] = principal
        if comp.scopes:
            self._check_scopes(comp, by_scheme)
        return first, by_scheme

    def _check_scopes(self, comp: _Compiled, by_scheme: Mapping[str, Any]) -> None:
        granted: set[str] = set()
        readable = False
        for p in by_scheme.values():
            scopes = normalize_scopes(getattr(p, "scopes", None))
            if scopes is not None:
                readable = True
                granted |= scopes
        # Name a bearer scheme when there is one: its 403 carries the scope challenge.
        sch = next(
            (s.scheme for s in comp.steps if s.scheme.kind in ("jwt", "oauth2")),
            comp.steps[0].scheme,
        )
        if not readable:
            raise AuthorizationError(
                "principal carries no scopes",
                missing_scopes=comp.scopes,
                required_scopes=comp.scopes,
                reason="insufficient_scope",
                scheme=sch.name,
                kind=sch.kind,
            )
        missing = tuple(s for s in comp.scopes if s not in granted)
        if missing:
            raise AuthorizationError(
                f"missing scopes: {', '.join(missing)}",
                missing_scopes=missing,
                required_scopes=comp.scopes,
                reason="insufficient_scope",
                scheme=sch.name,
                kind=sch.kind,
            )

    def _release(self, keys: list[str]) -> None:
        for key in keys:
            left = self._pending[key] - 1
            if left:
                self._pending[key] = left
            else:
                del self._pending[key]

    async def _check_lockout(
        self, presented: list[tuple[_Step, tuple[str, ...]]], client: str | None
    ) -> list[str]:
        """Refuse a locked-out caller; reserve one attempt per lockout key otherwise."""
        limiter = self.limiter
        if limiter is None:
            return []
        checks: list[tuple[str, RateLimit, Scheme]] = []
        scheme = presented[0][0].scheme if presented else self.first
        if self.fail_client is not None and client:
            checks.append((f"authfail:client:{client}", self.fail_client, scheme))
        if self.fail_credential is not None:
            seen: set[str] = set()
            for step, args in presented:
                fp = _fingerprint(step, args)
                if fp not in seen:
                    seen.add(fp)
                    checks.append((f"authfail:cred:{fp}", self.fail_credential, step.scheme))
        for key, limit, sch in checks:
            decision = await limiter.peek(key, limit)
            in_flight = self._pending.get(key, 0)
            if not decision.allowed or (not decision.degraded and decision.remaining <= in_flight):
                reason = "unavailable" if decision.degraded else "locked_out"
                self._report(sch, reason, client)
                raise RateLimited("too many failed authentications", decision, reason=reason)
        keys = [key for key, _, _ in checks]
        for key in keys:
            self._pending[key] = self._pending.get(key, 0) + 1
        return keys

    async def _count_failures(self, rejected: Mapping[str, Scheme], client: str | None) -> None:
        limiter = self.limiter
        if limiter is None:
            return
        # The call already fails with 401: a storage outage here is logged by the limiter,
        # never raised.
        if self.fail_client is not None and client:
            await limiter.hit(f"authfail:client:{client}", self.fail_client)
        if self.fail_credential is not None:
            for fp in rejected:
                await limiter.hit(f"authfail:cred:{fp}", self.fail_credential)

    async def _check_requests(
        self, comp: _Compiled, by_scheme: Mapping[str, Any], payload: Any, client: str | None
    ) -> None:
        limiter = self.limiter
        if limiter is None or not (self.per_scheme or self.method_limit):
            return
        tightest: Decision | None = None
        refused: tuple[Decision, Scheme] | None = None
        identity = ""
        for step in comp.steps:
            who = _identity(by_scheme[step.scheme.name], step, payload)
            identity = identity or who
            limit = self.per_scheme.get(step.scheme.name)
            if limit is None:
                continue
            d = await limiter.hit(f"req:scheme:{step.scheme.name}:{who}", limit)
            tightest = _tighter(tightest, d)
            if not d.allowed and refused is None:
                refused = (d, step.scheme)
        if self.method_limit is not None:
            d = await limiter.hit(f"req:method:{self.method}:{identity}", self.method_limit)
            tightest = _tighter(tightest, d)
            if not d.allowed and refused is None:
                refused = (d, comp.steps[0].scheme)
        rate_limit_decision.set(tightest)
        if refused is not None:
            self._report(refused[1], "rate_limited", client)
            raise RateLimited("rate limit exceeded", refused[0])


def _identity(principal: Any, step: _Step, payload: Any) -> str:
    # Count a client's requests under its subject, so rotating keys share one budget.
    subject = getattr(principal, "subject", None)
    if isinstance(subject, str) and subject:
        return f"sub:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"
    args = _credential(payload, step.ref)
    return "cred:" + _fingerprint(step, args or ("",))


def _tighter(a: Decision | None, b: Decision) -> Decision:
    if a is None:
        return b
    if a.allowed != b.allowed:
        return a if not a.allowed else b
    return a if a.remaining <= b.remaining else b


class _PublicLimited:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        method: str,
        limiter: RateLimiter,
        limit: RateLimit,
        on_failure: Callable[[AuthFailure], None] | None,
    ) -> None:
        self.endpoint = endpoint
        self.method = method
        self.limiter = limiter
        self.limit = limit
        self.on_failure = on_failure

    async def __call__(self, payload: Any) -> Any:
        client = client_address.get()
        d = await self.limiter.hit(f"req:method:{self.method}:addr:{client or '-'}", self.limit)
        rate_limit_decision.set(d)
        if not d.allowed:
            if self.on_failure is not None:
                try:
                    self.on_failure(AuthFailure("", "", self.method, client, "rate_limited"))
                except Exception:
                    _log.exception("auth failure hook raised for method %s", self.method)
            raise RateLimited("rate limit exceeded", d)
        return await self.endpoint(payload)


def secure(
    endpoint: Endpoint,
    requirements: Sequence[Requirement],
    handlers: Mapping[str, Handler],
    *,
    method_name: str,
    on_failure: Callable[[AuthFailure], None] | None = None,
    limiter: RateLimiter | None = None,
    limits: RateLimits | None = None,
) -> Endpoint:
    """Wrap `endpoint` so it runs only for callers that meet one of `requirements`.

    Requirements are alternatives tried in order: the first that passes wins, and if none
    does the last one's error is raised (`AuthenticationError`, 401, or
    `AuthorizationError`, 403). All schemes of one requirement must pass, then its scopes
    are checked against the principals' `scopes`. `handlers` maps scheme kinds to auth
    handlers (see `handlers_for`). With a `limiter`, `limits` (default `RateLimits()`)
    apply and `RateLimited` may be raised. Empty `requirements` make the method public.
    `on_failure` is called once per refused call with an `AuthFailure`.
    """
    limits = limits if limits is not None else RateLimits()
    if not requirements:
        method_limit = limits.per_method.get(method_name)
        if limiter is None or method_limit is None:
            return endpoint
        return _PublicLimited(
            endpoint,
            method=method_name,
            limiter=limiter,
            limit=RateLimit.of(method_limit),
            on_failure=on_failure,
        )
    compiled = _compile(requirements, handlers, method_name)
    return _Enforcer(
        endpoint,
        compiled,
        method=method_name,
        on_failure=on_failure,
        limiter=limiter,
        limits=limits,
    )
