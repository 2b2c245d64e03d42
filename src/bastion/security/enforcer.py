"""Enforcing a method's security: credentials from the payload, auth handlers, scopes, limits.

`secure` compiles one method's requirements once, at startup, into an endpoint wrapper; the
wrapper does no lookups by name on the hot path. It knows nothing of the transport: the
credential is a payload attribute, the caller's address comes from `client_address`, and a
refusal is an exception saying why (`Unauthorized`, `Forbidden`, `RateLimited`), which each
transport renders its own way.

Per call, each credential is read from the payload once and hashed at most once. The
brute-force lockout costs no storage operation when neither the client nor the credential
has failed recently (see `FailureIndex`); the request limits of one call cost one storage
call together.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from bastion import log
from bastion.dsl.expr import SchemeKind
from bastion.endpoint import ImplementationError
from bastion.endpoint.threads import ThreadRunner
from bastion.errors import DesignError, Forbidden, Unauthorized
from bastion.security._digest import credential_digest
from bastion.security._failures import FailureIndex
from bastion.security.errors import RateLimited
from bastion.security.handlers import HANDLER_NAMES, SIGNATURES, Handler, is_async
from bastion.security.principal import _enter, _leave, client_address, normalize_scopes
from bastion.security.ratelimit import Decision, RateLimit, RateLimiter, rate_limit_decision
from bastion.security.scheme import Requirement, Scheme, SchemeRef
from bastion.types import Endpoint

__all__ = ["AuthFailure", "RateLimits", "secure"]


# How many principals' subject digests an enforcer keeps (request-limit keys).
_SUBJECTS = 4096


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """One refused call, for logs and the `bastion.auth.failures{scheme,reason}` metric.

    `scheme` names the scheme whose credential failed (the one presented and rejected
    when there was one); `reason` is one of `bastion.security.REASONS`. For a public
    method's rate limit `scheme` is empty and `kind` None. No field ever holds a credential.
    """

    scheme: str
    kind: SchemeKind | None
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
    before any handler runs, once exhausted. See docs/security.md for what happens when
    the storage is down.
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
                # Without a fallback, a brute-force limit that cannot be checked refuses.
                object.__setattr__(self, name, RateLimit(value, fail_open=False))


@dataclass(frozen=True, slots=True)
class _Step:
    scheme: Scheme  # as passed to the handler: required_scopes filled in
    slot: int
    handler: Handler
    is_async: bool
    limit: RateLimit | None  # the scheme's request limit, when it has one


@dataclass(frozen=True, slots=True)
class _Compiled:
    steps: tuple[_Step, ...]
    scopes: tuple[str, ...]
    named: Scheme  # the scheme a scope refusal names: a bearer one when there is one
    limited: bool  # whether a request limit applies once it passes


def _shape_ok(sch: Scheme, credential: object) -> bool:
    if sch.kind is SchemeKind.BASIC:
        return (
            isinstance(credential, tuple)
            and len(credential) == 2
            and all(isinstance(a, str) and a for a in credential)
        )
    return isinstance(credential, str) and bool(credential)


def _compile(
    requirements: Sequence[Requirement],
    handlers: Mapping[SchemeKind, Handler],
    method: str,
    per_scheme: Mapping[str, RateLimit],
    method_limit: RateLimit | None,
) -> tuple[tuple[_Compiled, ...], tuple[SchemeRef, ...]]:
    slots: dict[SchemeRef, int] = {}
    out: list[_Compiled] = []
    for req in requirements:
        if not req.schemes:
            raise DesignError(f"method {method!r}: a security requirement has no scheme")
        steps: list[_Step] = []
        for ref in req.schemes:
            sch = ref.scheme
            if not _shape_ok(sch, ref.credential):
                shape = (
                    "a (username_attribute, password_attribute) pair"
                    if sch.kind is SchemeKind.BASIC
                    else "the name of the payload attribute holding it"
                )
                raise DesignError(
                    f"method {method!r}: the credential of scheme {sch.name!r} must be {shape}"
                )
            handler = handlers.get(sch.kind)
            if handler is None:
                raise ImplementationError(
                    f"method {method!r}: no auth handler for scheme {sch.name!r}; the service "
                    f"must define `{SIGNATURES[sch.kind]}`"
                )
            required = tuple(dict.fromkeys((*req.scopes, *sch.required_scopes)))
            slot = slots.setdefault(ref, len(slots))
            steps.append(
                _Step(
                    replace(sch, required_scopes=required),
                    slot,
                    handler,
                    is_async(handler),
                    per_scheme.get(sch.name),
                )
            )
        named = next((s.scheme for s in steps if s.scheme.kind.is_bearer), steps[0].scheme)
        limited = method_limit is not None or any(s.limit is not None for s in steps)
        out.append(
            _Compiled(tuple(steps), tuple(dict.fromkeys(req.scopes)), named, limited)
        )
    # Each distinct credential reference is one slot, read once per call.
    return tuple(out), tuple(sorted(slots, key=slots.__getitem__))


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


async def _call_handler(step: _Step, args: tuple[str, ...], threads: ThreadRunner) -> Any:
    # The one place auth handlers are called: sync ones in the App's threads, the same
    # pool as sync methods (a call cancelled while it waits for a thread never runs).
    if step.is_async:
        result = await step.handler(*args, step.scheme)
    else:
        result = await threads.run(step.handler, *args, step.scheme)
        if inspect.isawaitable(result):
            result = await result
    return result


def _crowded(limit: RateLimit) -> Decision:
    # Every attempt the budget has left is being verified right now: refuse this one.
    return Decision(False, limit.amount, 0, 1.0, limit.window)


class _Call:
    # What one call has read so far: each credential once, each digest at most once.
    __slots__ = ("creds", "fps")

    def __init__(self, creds: list[tuple[str, ...] | None]) -> None:
        self.creds = creds
        self.fps: list[str | None] = [None] * len(creds)


class _Enforcer:
    def __init__(
        self,
        endpoint: Endpoint,
        requirements: Sequence[Requirement],
        handlers: Mapping[SchemeKind, Handler],
        *,
        method: str,
        on_failure: Callable[[AuthFailure], None] | None,
        limiter: RateLimiter | None,
        limits: RateLimits,
        threads: ThreadRunner,
    ) -> None:
        self.endpoint = endpoint
        self.threads = threads
        self.method = method
        self.on_failure = on_failure
        self.limiter = limiter
        self.method_limit: RateLimit | None = None
        self.fail_client: RateLimit | None = None
        self.fail_credential: RateLimit | None = None
        per_scheme: dict[str, RateLimit] = {}
        if limiter is not None:
            per_scheme = {k: RateLimit.of(v) for k, v in limits.per_scheme.items()}
            ml = limits.per_method.get(method)
            self.method_limit = RateLimit.of(ml) if ml is not None else None
            fc, fk = limits.failures_per_client, limits.failures_per_credential
            self.fail_client = RateLimit.of(fc) if fc is not None else None
            self.fail_credential = RateLimit.of(fk) if fk is not None else None
        self.compiled, self.slots = _compile(
            requirements, handlers, method, per_scheme, self.method_limit
        )
        self.kinds = tuple(dict.fromkeys(s.scheme.kind for c in self.compiled for s in c.steps))
        self.first = self.compiled[0].steps[0].scheme
        self.lockout = limiter is not None and (
            self.fail_client is not None or self.fail_credential is not None
        )
        self.index: FailureIndex | None = limiter.failures if limiter is not None else None
        self.prefixes = tuple(f"{ref.scheme.name}:" for ref in self.slots)
        self._subjects: dict[str, str] = {}

    def _report(self, name: str, kind: SchemeKind | None, reason: str, client: str | None) -> None:
        if self.on_failure is None:
            return
        try:
            self.on_failure(AuthFailure(name, kind, self.method, client, reason))
        except Exception:
            # A broken hook must not turn a 401 into a 500; it is logged, without payload.
            log.error(sys.exc_info()[1], "auth failure hook raised", method=self.method)

    def _fingerprint(self, call: _Call, i: int) -> str:
        # What brute-force counters are keyed by: the username for Basic (passwords change
        # on every guess), the credential otherwise. A digest: the counters may be in Redis.
        fp = call.fps[i]
        if fp is None:
            args = call.creds[i]
            digest = credential_digest(args[0] if args else "")
            fp = call.fps[i] = self.prefixes[i] + digest[:16].hex()
        return fp

    async def __call__(self, payload: Any) -> Any:
        client = client_address.get()
        call = _Call([_credential(payload, ref) for ref in self.slots])
        index = self.index
        reserved: list[str] = []
        if index is not None and self.lockout:
            reserved = await self._lockout(index, call, client)
        try:
            passed = await self._authenticate(call, client)
        finally:
            # The reservation ends once the handlers have answered, before the method runs
            # (failures were counted by then, so no attempt is ever uncounted).
            if reserved and index is not None:
                index.release(reserved)
        comp, first, by_scheme = passed
        if comp.limited:
            await self._check_requests(comp, by_scheme, call, client)
        token = _enter(first, by_scheme)
        try:
            return await self.endpoint(payload)
        finally:
            _leave(token)

    async def _authenticate(
        self, call: _Call, client: str | None
    ) -> tuple[_Compiled, Any, dict[str, Any]]:
        rejected: dict[str, Scheme] = {}
        refused: Unauthorized | Forbidden | None = None
        missing: Unauthorized | None = None
        for comp in self.compiled:
            try:
                first, by_scheme = await self._try(comp, call, rejected)
            except Unauthorized as exc:
                if exc.reason == "missing":
                    missing = exc
                else:
                    refused = exc
                continue
            except Forbidden as exc:
                refused = exc
                continue
            return comp, first, by_scheme
        if rejected and self.limiter is not None:
            await self._count_failures(rejected, client)
        # Name what was presented and refused; "missing" only when nothing was.
        error = refused or missing
        if error is None:  # pragma: no cover - compiled is never empty
            raise AssertionError("no security requirement was evaluated")
        self._report(error.scheme or self.first.name, error.kind, error.reason, client)
        raise error

    async def _try(
        self, comp: _Compiled, call: _Call, rejected: dict[str, Scheme]
    ) -> tuple[Any, dict[str, Any]]:
        by_scheme: dict[str, Any] = {}
        first: Any = None
        for step in comp.steps:
            sch = step.scheme
            args = call.creds[step.slot]
            if args is None:
                raise Unauthorized(
                    f"missing credential for {sch.name}",
                    reason="missing",
                    scheme=sch.name,
                    kind=sch.kind,
                    alternatives=self.kinds,
                )
            try:
                principal = await _call_handler(step, args, self.threads)
            except Unauthorized as exc:
                # Only a rejected credential is a guess. An expired one was valid once: a
                # crowd of stale tokens behind one NAT address must not lock it out.
                if exc.reason == "invalid":
                    rejected[self._fingerprint(call, step.slot)] = sch
                raise Unauthorized(
                    exc.message,
                    reason=exc.reason,
                    scheme=sch.name,
                    kind=sch.kind,
                    alternatives=self.kinds,
                ) from None
            except Forbidden as exc:
                raise Forbidden(
                    exc.message,
                    missing_scopes=exc.missing_scopes,
                    required_scopes=sch.required_scopes,
                    reason=exc.reason,
                    scheme=sch.name,
                    kind=sch.kind,
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
        if not readable:
            missing, message = comp.scopes, "principal carries no scopes"
        else:
            missing = tuple(s for s in comp.scopes if s not in granted)
            message = f"missing scopes: {', '.join(missing)}"
        if missing:
            sch = comp.named  # a bearer scheme when there is one: its 403 has a challenge
            raise Forbidden(
                message,
                missing_scopes=missing,
                required_scopes=comp.scopes,
                reason="insufficient_scope",
                scheme=sch.name,
                kind=sch.kind,
            )

    # -- brute-force lockout ----------------------------------------------------------

    async def _lockout(self, index: FailureIndex, call: _Call, client: str | None) -> list[str]:
        """Refuse a locked-out caller, else reserve one attempt per lockout key.

        Only keys with recent failures are asked of the store (one call for all of them);
        a clean key has its whole budget, less the attempts in flight.
        """
        keys: list[str] = []
        limits: list[RateLimit] = []
        owners: list[int] = []  # the slot each key belongs to (-1: the client's)
        if self.fail_client is not None and client:
            keys.append("authfail:client:" + client)
            limits.append(self.fail_client)
            owners.append(-1)
        if self.fail_credential is not None:
            for i, args in enumerate(call.creds):
                if args is not None:
                    key = "authfail:cred:" + self._fingerprint(call, i)
                    if key not in keys:
                        keys.append(key)
                        limits.append(self.fail_credential)
                        owners.append(i)
        if not keys:
            return keys
        now = time.monotonic()
        pending = index.pending
        unknown: list[int] = []
        for j, key in enumerate(keys):
            if not index.clean(key, now):
                unknown.append(j)
            elif pending.get(key, 0) >= limits[j].amount:
                self._locked(owners[j], _crowded(limits[j]), call, client)
        if unknown and self.limiter is not None:
            decisions = await self.limiter.peek_many([(keys[j], limits[j]) for j in unknown])
            for j, d in zip(unknown, decisions, strict=True):
                if not d.allowed:
                    self._locked(owners[j], d, call, client)
                if d.remaining <= pending.get(keys[j], 0):
                    self._locked(owners[j], _crowded(limits[j]), call, client)
        index.reserve(keys)
        return keys

    def _locked(self, slot: int, d: Decision, call: _Call, client: str | None) -> NoReturn:
        # Report under the scheme whose key is locked; for the client's, the first presented.
        if slot < 0:
            slot = next((i for i, a in enumerate(call.creds) if a is not None), -1)
        sch = self.slots[slot].scheme if slot >= 0 else self.first
        reason = "unavailable" if d.fail_mode else "locked_out"
        self._report(sch.name, sch.kind, reason, client)
        raise RateLimited("too many failed authentications", d, reason=reason)

    async def _count_failures(self, rejected: Mapping[str, Scheme], client: str | None) -> None:
        limiter = self.limiter
        if limiter is None:
            return
        # The call already fails with 401: a storage outage here is handled by the
        # limiter (fallback or fail mode), never raised.
        items: list[tuple[str, RateLimit]] = []
        if self.fail_client is not None and client:
            items.append((f"authfail:client:{client}", self.fail_client))
        if self.fail_credential is not None:
            items += [(f"authfail:cred:{fp}", self.fail_credential) for fp in rejected]
        if items:
            await limiter.count_failures(items)

    # -- request limits -----------------------------------------------------------------

    def _identity(self, principal: Any, step: _Step, call: _Call) -> str:
        # Count a client's requests under its subject, so rotating keys share one budget.
        subject = getattr(principal, "subject", None)
        if isinstance(subject, str) and subject:
            who = self._subjects.get(subject)
            if who is None:
                if len(self._subjects) >= _SUBJECTS:
                    self._subjects.clear()
                digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
                who = self._subjects[subject] = f"sub:{digest}"
            return who
        return "cred:" + self._fingerprint(call, step.slot)

    async def _check_requests(
        self, comp: _Compiled, by_scheme: Mapping[str, Any], call: _Call, client: str | None
    ) -> None:
        limiter = self.limiter
        if limiter is None:
            return
        items: list[tuple[str, RateLimit]] = []
        named: list[Scheme] = []
        identity = ""
        for step in comp.steps:
            who = self._identity(by_scheme[step.scheme.name], step, call)
            identity = identity or who
            if step.limit is not None:
                items.append((f"req:scheme:{step.scheme.name}:{who}", step.limit))
                named.append(step.scheme)
        if self.method_limit is not None:
            items.append((f"req:method:{self.method}:{identity}", self.method_limit))
            named.append(comp.steps[0].scheme)
        decisions = await limiter.hit_many(items)
        tightest = decisions[0]
        refused: tuple[Decision, Scheme] | None = None
        for d, sch in zip(decisions, named, strict=True):
            tightest = _tighter(tightest, d)
            if not d.allowed and refused is None:
                refused = (d, sch)
        rate_limit_decision.set(tightest)
        if refused is not None:
            self._report(refused[1].name, refused[1].kind, "rate_limited", client)
            raise RateLimited("rate limit exceeded", refused[0])


def _tighter(a: Decision, b: Decision) -> Decision:
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
        key = f"req:method:{self.method}:addr:{client or '-'}"
        [d] = await self.limiter.hit_many([(key, self.limit)])
        rate_limit_decision.set(d)
        if not d.allowed:
            if self.on_failure is not None:
                try:
                    self.on_failure(AuthFailure("", None, self.method, client, "rate_limited"))
                except Exception:
                    log.error(sys.exc_info()[1], "auth failure hook raised", method=self.method)
            raise RateLimited("rate limit exceeded", d)
        return await self.endpoint(payload)


def secure(
    endpoint: Endpoint,
    requirements: Sequence[Requirement],
    handlers: Mapping[SchemeKind, Handler],
    *,
    method_name: str,
    on_failure: Callable[[AuthFailure], None] | None = None,
    limiter: RateLimiter | None = None,
    limits: RateLimits | None = None,
    threads: ThreadRunner | None = None,
) -> Endpoint:
    """Wrap `endpoint` so it runs only for callers that meet one of `requirements`.

    Requirements are alternatives tried in order: the first that passes wins. If none
    does, the refusal of a credential that was presented is raised (the last such one),
    else the last "missing credential": `Unauthorized` (401) or `Forbidden` (403). All
    schemes of one requirement must pass, then its scopes are checked against the
    principals' `scopes`. `handlers` maps scheme kinds to auth handlers (see
    `handlers_for`). With a `limiter`, `limits` (default `RateLimits()`) apply and
    `RateLimited` may be raised. Empty `requirements` make the method public.
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
    return _Enforcer(
        endpoint,
        requirements,
        handlers,
        method=method_name,
        on_failure=on_failure,
        limiter=limiter,
        limits=limits,
        threads=threads or ThreadRunner(),
    )
