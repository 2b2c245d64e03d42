"""Verifying JSON Web Tokens: static keys, PEMs or a JWKS URL with key rotation.

Every key is bound to the algorithm family its material belongs to (HMAC secret, RSA, EC
curve, Ed25519/Ed448) when it is loaded, and a token is only ever checked with a key of the
family its `alg` names. So an RS256 public key can never be used as an HS256 secret, whatever
the token's header says, and `alg: none` is never accepted.

A token is parsed once (PyJWS splits and decodes it; the header's `alg` and `kid` choose the
key; PyJWT's algorithm verifies the signature over the same bytes), then its claims are
checked. A token that passed is remembered, by its digest, until it expires: the next call
with it checks its times (`exp`, `nbf`, `iat`, with the leeway) and nothing else, unless
the keys changed since. Failures are never remembered.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple
from urllib.parse import urlsplit

import anyio
import jwt as pyjwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from bastion import log
from bastion.errors import ConfigError, Unauthorized
from bastion.redact import redact_url
from bastion.security._digest import credential_digest
from bastion.security.principal import Principal, normalize_scopes
from bastion.security.scheme import Scheme

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_ALGORITHMS", "JWTVerifier"]


_FAMILY: Final[Mapping[str, str]] = {
    "HS256": "HMAC", "HS384": "HMAC", "HS512": "HMAC",
    "RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
    "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
    "ES256": "EC", "ES384": "EC", "ES512": "EC",
    "EdDSA": "OKP",
}  # fmt: skip
_FAMILY_ALGS: Final[Mapping[str, frozenset[str]]] = {
    fam: frozenset(a for a, f in _FAMILY.items() if f == fam) for fam in set(_FAMILY.values())
}
# An EC key verifies exactly one algorithm: the one of its curve.
_CURVE_ALG: Final[Mapping[str, str]] = {
    "secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512",
}  # fmt: skip

#: The algorithms accepted unless told otherwise; each key still narrows them to its family.
DEFAULT_ALGORITHMS: Final = (
    "RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512",
)  # fmt: skip

_MIN_HMAC_BYTES = 32
_MIN_RSA_BITS = 2048
_MAX_TOKEN_CHARS = 16_384
# A failed JWKS fetch may be retried sooner than a successful one is refreshed.
_RETRY_FAILED_FETCH = 5.0


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str | None
    family: str
    algorithms: frozenset[str]
    material: Any  # bytes for HMAC, a cryptography public key otherwise


class _Verified(NamedTuple):
    # A token that passed: what its next use needs to be accepted without a signature check.
    generation: int  # of the keys it was checked against
    exp: int | None
    nbf: int | None  # the later of nbf and iat: not valid before it
    claims: Mapping[str, Any]  # read-only
    principal: Principal


def _fail(message: str, reason: str = "invalid") -> Unauthorized:
    return Unauthorized(message, reason=reason)


def _int(value: Any) -> int | None:
    # As PyJWT reads NumericDate claims: anything int() takes.
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        return None


class JWTVerifier:
    """Verifies JWTs and returns a `Principal`; usable directly as a `jwt_auth` handler.

    Keys come from `key=` (one key: an HMAC secret, a PEM, a JWK dict or a `cryptography`
    key), `keys={kid: key}`, a static JWKS document `jwks=`, or `jwks_url=` (fetched with
    httpx, cached for `jwks_max_age`, refetched on an unknown `kid` at most once per
    `min_refresh_interval`). `exp`, `nbf` and `iat` are checked with `leeway` seconds;
    `issuer` and `audience` when given; `required_claims` must be present. Scopes are read
    from `scope` (space separated), `scp` and `scopes`. Up to `cache_size` tokens that
    passed are remembered until they expire (0 turns this off).
    """

    def __init__(
        self,
        *,
        key: Any = None,
        keys: Mapping[str, Any] | None = None,
        jwks: Mapping[str, Any] | None = None,
        jwks_url: str | None = None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        issuer: str | Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        leeway: float = 30.0,
        required_claims: Iterable[str] = ("exp",),
        min_refresh_interval: float = 60.0,
        jwks_max_age: float = 3600.0,
        fetch_timeout: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = 4096,
    ) -> None:
        problems: list[str] = []
        if cache_size < 0:
            problems.append(f"JWTVerifier: cache_size {cache_size!r} must be >= 0")
        self.algorithms = frozenset(algorithms)
        for alg in sorted(self.algorithms - _FAMILY.keys()):
            problems.append(
                f"JWTVerifier: algorithm {alg!r} is not supported "
                f"(use {', '.join(sorted(_FAMILY))})"
            )
        if key is None and not keys and jwks is None and jwks_url is None:
            problems.append("JWTVerifier: give key=, keys=, jwks= or jwks_url=")
        static: list[_Key] = []
        if key is not None:
            static.extend(_load_config_key(None, key, problems))
        for kid, value in (keys or {}).items():
            static.extend(_load_config_key(kid, value, problems))
        if jwks is not None:
            static.extend(_load_config_jwks(jwks, problems))
        if jwks_url is not None:
            _check_jwks_url(jwks_url, problems)
        if static and not any(k.algorithms & self.algorithms for k in static):
            problems.append(
                "JWTVerifier: none of the configured keys can verify the allowed algorithms "
                f"{', '.join(sorted(self.algorithms))}"
            )
        if problems:
            raise ConfigError(problems)

        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.required_claims = tuple(required_claims)
        self.jwks_url = jwks_url
        self.min_refresh_interval = min_refresh_interval
        self.jwks_max_age = jwks_max_age
        self.fetch_timeout = fetch_timeout
        self._http = http_client
        self._clock = clock
        self._static = tuple(static)
        self._remote: tuple[_Key, ...] = ()
        self._remote_loaded_at: float | None = None
        self._next_fetch_at = float("-inf")
        self._fetch_lock: anyio.Lock | None = None
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, _Verified] = OrderedDict()
        # Bumped whenever the keys change: a token verified with other keys is checked again.
        self._generation = 0
        self._remote_jwks: Any = None
        self._jws = pyjwt.PyJWS()
        self._algorithms = {a: self._jws.get_algorithm_by_name(a) for a in self.algorithms}

    # -- the handler --------------------------------------------------------------------

    async def __call__(self, token: str, scheme: Scheme) -> Principal:
        """Verify `token` and return its principal; raise `Unauthorized` otherwise."""
        return (await self._verified(token)).principal

    async def verify(self, token: str) -> dict[str, Any]:
        """Verify `token` and return its claims; raise `Unauthorized` otherwise."""
        return dict((await self._verified(token)).claims)

    async def _verified(self, token: str) -> _Verified:
        if not isinstance(token, str) or not token.strip():
            raise _fail("missing token", "missing")
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if len(token) > _MAX_TOKEN_CHARS:
            raise _fail("malformed token")
        if not self.cache_size:
            return await self._check(token)
        digest = credential_digest(token)
        seen = self._cache.get(digest)
        if seen is not None:
            if self.jwks_url is not None and self._stale():
                await self._refresh(force=False)  # as on every call: the keys may rotate
            if seen.generation == self._generation and self._fresh(seen):
                self._cache.move_to_end(digest)
                return seen
            self._cache.pop(digest, None)
        verified = await self._check(token)
        self._cache[digest] = verified
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return verified

    def _fresh(self, seen: _Verified) -> bool:
        # The checks that depend on the time, exactly as the first verification made them.
        now = time.time()
        if seen.exp is not None and seen.exp <= now - self.leeway:
            return False
        return seen.nbf is None or seen.nbf <= now + self.leeway  # a clock stepped back

    async def _check(self, token: str) -> _Verified:
        try:
            # One parse: header, payload and signature, nothing verified yet.
            parts = self._jws.decode_complete(token, options={"verify_signature": False})
        except pyjwt.PyJWTError:
            raise _fail("malformed token") from None
        header, signature = parts["header"], parts["signature"]
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str) or alg not in self.algorithms or alg not in _FAMILY:
            # Covers "none" in every spelling: it is never in self.algorithms.
            raise _fail("algorithm not allowed")
        if kid is not None and not isinstance(kid, str):
            raise _fail("malformed token")
        candidates = await self._candidates(kid, alg)
        generation = self._generation  # of the keys just chosen (no await since)
        algorithm = self._algorithms[alg]
        signed = token.rsplit(".", 1)[0].encode("utf-8")
        if not any(_verifies(algorithm, signed, k, signature) for k in candidates):
            raise _fail("invalid signature")
        try:
            claims = json.loads(parts["payload"])
        except (ValueError, RecursionError):
            raise _fail("malformed token") from None
        if not isinstance(claims, dict):
            raise _fail("malformed token")
        exp, not_before = self._check_claims(claims)
        subject = claims.get("sub")
        frozen = MappingProxyType(claims)
        principal = Principal(
            subject=subject if isinstance(subject, str) else "",
            scopes=_scopes(claims),
            claims=frozen,
        )
        return _Verified(generation, exp, not_before, frozen, principal)

    def _check_claims(self, claims: Mapping[str, Any]) -> tuple[int | None, int | None]:
        # PyJWT's rules and order (required, iat, nbf, exp, iss, aud, sub, jti), with our
        # fixed messages: nothing of the token is ever quoted.
        for claim in self.required_claims:
            if claims.get(claim) is None:
                raise _fail(f"missing claim: {claim}")
        now = time.time()
        leeway = self.leeway
        iat = nbf = exp = None
        if "iat" in claims:
            iat = _int(claims["iat"])
            if iat is None:
                raise _fail("invalid iat claim")
            if iat > now + leeway:
                raise _fail("token not yet valid")
        if "nbf" in claims:
            nbf = _int(claims["nbf"])
            if nbf is None:
                raise _fail("malformed token")
            if nbf > now + leeway:
                raise _fail("token not yet valid")
        if "exp" in claims:
            exp = _int(claims["exp"])
            if exp is None:
                raise _fail("malformed token")
            if exp <= now - leeway:
                raise _fail("token expired", "expired")
        self._check_issuer(claims)
        self._check_audience(claims)
        for name in ("sub", "jti"):
            if name in claims and not isinstance(claims[name], str):
                raise _fail("invalid token")
        # Not valid before the later of nbf and iat: what a cached token is checked against.
        starts = [t for t in (iat, nbf) if t is not None]
        return exp, max(starts) if starts else None

    def _check_issuer(self, claims: Mapping[str, Any]) -> None:
        issuer = self.issuer
        if issuer is None:
            return
        if "iss" not in claims:
            raise _fail("missing claim: iss")
        iss = claims["iss"]
        accepted = (issuer,) if isinstance(issuer, str) else issuer
        if not isinstance(iss, str) or iss not in accepted:
            raise _fail("invalid issuer")

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        aud = claims.get("aud")
        if self.audience is None:
            if aud:  # the token is meant for someone, and this service expects no one
                raise _fail("invalid audience")
            return
        if not aud:
            raise _fail("missing claim: aud")
        given = [aud] if isinstance(aud, str) else aud
        if not isinstance(given, list) or not all(isinstance(a, str) for a in given):
            raise _fail("invalid audience")
        wanted = (self.audience,) if isinstance(self.audience, str) else self.audience
        if all(a not in given for a in wanted):
            raise _fail("invalid audience")

    # -- keys ---------------------------------------------------------------------------

    async def _candidates(self, kid: str | None, alg: str) -> list[_Key]:
        if self.jwks_url is not None:
            await self._refresh_if_stale()
        found = self._lookup(kid)
        if kid is not None and not found and self.jwks_url is not None:
            # Unknown kid: the issuer may have rotated its keys. Refetch, rate-limited.
            await self._refresh(force=False)
            found = self._lookup(kid)
        if not found:
            raise _fail("unknown signing key" if kid is not None else "no signing key")
        usable = [k for k in found if alg in k.algorithms]
        if not usable:
            raise _fail("algorithm not allowed for this key")
        return usable

    def _lookup(self, kid: str | None) -> list[_Key]:
        keys = self._static + self._remote
        if kid is None:
            return list(keys)
        # A static key without kid (key=) also verifies tokens that carry one.
        return [k for k in keys if k.kid == kid or (k.kid is None and k in self._static)]

    def _stale(self) -> bool:
        loaded = self._remote_loaded_at
        return loaded is None or self._clock() - loaded >= self.jwks_max_age

    async def _refresh_if_stale(self) -> None:
        if self._stale():
            await self._refresh(force=False)

    async def refresh(self) -> bool:
        """Fetch the JWKS now (e.g. at startup); return whether it succeeded."""
        return await self._refresh(force=True)

    async def _refresh(self, *, force: bool) -> bool:
        if not force and self._clock() < self._next_fetch_at:
            return False
        if self._fetch_lock is None:
            self._fetch_lock = anyio.Lock()
        async with self._fetch_lock:
            # Whoever held the lock may have just fetched: then this caller is done.
            if not force and self._clock() < self._next_fetch_at:
                return False
            ok = await self._fetch()
            interval = self.min_refresh_interval
            self._next_fetch_at = self._clock() + (
                interval if ok else min(interval, _RETRY_FAILED_FETCH)
            )
            return ok

    async def _fetch(self) -> bool:
        url = self.jwks_url
        if url is None:
            return False
        where = redact_url(url)
        import httpx  # only for verifiers that fetch a JWKS

        try:
            if self._http is not None:
                body = await _get_capped(self._http, url, self.fetch_timeout)
            else:
                async with httpx.AsyncClient(timeout=self.fetch_timeout) as client:
                    body = await _get_capped(client, url, self.fetch_timeout)
            doc = json.loads(body)
        except (httpx.HTTPError, ValueError) as exc:
            log.warn("JWKS fetch failed", url=where, error=type(exc).__name__)
            return False
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            log.warn("JWKS is not a JSON object with a 'keys' list", url=where)
            return False
        loaded: list[_Key] = []
        for jwk in doc["keys"]:
            try:
                loaded.extend(_load_jwk(jwk, allow_secret=False))
            except ValueError as exc:
                # The message is ours and names only the kid and the problem.
                log.warn("JWKS: skipping a key", url=where, reason=str(exc))
        if doc["keys"] != self._remote_jwks:
            # New, rotated or withdrawn keys: what they verified is verified again.
            self._generation += 1
            self._remote_jwks = doc["keys"]
        self._remote = tuple(loaded)
        self._remote_loaded_at = self._clock()
        log.info("JWKS loaded", url=where, signing_keys=len(loaded))
        return True


#: A JWKS larger than this is refused: a key set is a few KiB, and the fetch must not let a
#: misbehaving identity provider (or whoever answers in its place) exhaust memory.
MAX_JWKS_BYTES = 1 << 20


async def _get_capped(client: httpx.AsyncClient, url: str, timeout: float) -> bytes:
    headers = {"Accept": "application/json"}
    async with client.stream("GET", url, headers=headers, timeout=timeout) as resp:
        resp.raise_for_status()
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
    return bytes(body)


# -- loading keys --------------------------------------------------------------------------


def _load_config_key(kid: str | None, value: Any, problems: list[str]) -> list[_Key]:
    try:
        return [_load_key(kid, value)]
    except ValueError as exc:
        problems.append(f"JWTVerifier: {exc}")
        return []


def _load_config_jwks(doc: Mapping[str, Any], problems: list[str]) -> list[_Key]:
    keys = doc.get("keys")
    if not isinstance(keys, list):
        problems.append("JWTVerifier: jwks= must be a JWKS document with a 'keys' list")
        return []
    out: list[_Key] = []
    for jwk in keys:
        try:
            out.extend(_load_jwk(jwk, allow_secret=True))
        except ValueError as exc:
            problems.append(f"JWTVerifier: {exc}")
    return out


def _load_key(kid: str | None, value: Any) -> _Key:
    name = f"key {kid!r}" if kid is not None else "key"
    if isinstance(value, pyjwt.PyJWK):
        key = _from_crypto(kid, value.key, name) if not isinstance(value.key, bytes) else None
        if key is None:
            key = _hmac_key(kid, value.key, name)
        return _restrict(key, value.algorithm_name, name)
    if isinstance(value, Mapping):
        keys = _load_jwk(value, allow_secret=True, kid=kid)
        if not keys:
            raise ValueError(f"{name}: the JWK is not a signing key")
        return keys[0]
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        if b"-----BEGIN" in raw:
            return _from_crypto(kid, _load_pem(raw, name), name)
        if raw.startswith((b"ssh-", b"ecdsa-sha2-")):
            raise ValueError(f"{name}: SSH keys are not supported; give a PEM or a JWK")
        return _hmac_key(kid, raw, name)
    return _from_crypto(kid, value, name)


def _load_pem(raw: bytes, name: str) -> Any:
    try:
        if b"CERTIFICATE" in raw:
            return x509.load_pem_x509_certificate(raw).public_key()
        if b"PRIVATE KEY" in raw:
            return load_pem_private_key(raw, password=None).public_key()
        return load_pem_public_key(raw)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: the PEM could not be read as a key or certificate") from None


def _hmac_key(kid: str | None, raw: bytes, name: str) -> _Key:
    if len(raw) < _MIN_HMAC_BYTES:
        raise ValueError(
            f"{name}: an HMAC secret must be at least {_MIN_HMAC_BYTES} bytes "
            f"(got {len(raw)}); generate one with secrets.token_bytes(32)"
        )
    return _Key(kid, "HMAC", _FAMILY_ALGS["HMAC"], bytes(raw))


def _from_crypto(kid: str | None, obj: Any, name: str) -> _Key:
    if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        obj = obj.public_key()
    if isinstance(obj, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        obj = obj.public_key()
    if isinstance(obj, rsa.RSAPublicKey):
        if obj.key_size < _MIN_RSA_BITS:
            raise ValueError(f"{name}: RSA keys must be at least {_MIN_RSA_BITS} bits")
        return _Key(kid, "RSA", _FAMILY_ALGS["RSA"], obj)
    if isinstance(obj, ec.EllipticCurvePublicKey):
        alg = _CURVE_ALG.get(obj.curve.name)
        if alg is None:
            raise ValueError(f"{name}: EC curve {obj.curve.name} is not supported")
        return _Key(kid, "EC", frozenset({alg}), obj)
    if isinstance(obj, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return _Key(kid, "OKP", _FAMILY_ALGS["OKP"], obj)
    raise ValueError(
        f"{name}: expected an HMAC secret (bytes), a PEM, a JWK dict or a cryptography key, "
        f"got {type(obj).__name__}"
    )


def _restrict(key: _Key, alg: Any, name: str) -> _Key:
    # A JWK's "alg" narrows the key to that one algorithm; it can never widen its family.
    if alg is None:
        return key
    if not isinstance(alg, str) or alg not in key.algorithms:
        raise ValueError(f"{name}: its alg {alg!r} does not fit a {key.family} key")
    return _Key(key.kid, key.family, frozenset({alg}), key.material)


def _load_jwk(jwk: Any, *, allow_secret: bool, kid: str | None = None) -> list[_Key]:
    if not isinstance(jwk, Mapping):
        raise ValueError("a JWK must be a JSON object")
    kid_value = jwk.get("kid", kid)
    kid = kid_value if isinstance(kid_value, str) else None
    name = f"key {kid!r}" if kid is not None else "key"
    if jwk.get("use", "sig") != "sig":
        return []  # an encryption key: not ours to verify with
    kty = jwk.get("kty")
    data = dict(jwk)
    try:
        if kty == "oct":
            if not allow_secret:
                raise ValueError(f"{name}: a published JWKS must not hold HMAC secrets")
            key = _hmac_key(kid, pyjwt.utils.base64url_decode(str(data.get("k", ""))), name)
        elif kty == "RSA":
            key = _from_crypto(kid, RSAAlgorithm.from_jwk(data), name)
        elif kty == "EC":
            key = _from_crypto(kid, ECAlgorithm.from_jwk(data), name)
        elif kty == "OKP":
            key = _from_crypto(kid, OKPAlgorithm.from_jwk(data), name)
        else:
            raise ValueError(f"{name}: key type {kty!r} is not supported")
    except (pyjwt.PyJWTError, TypeError, KeyError):
        # PyJWT's messages may quote the JWK, secret included: say only what failed.
        raise ValueError(f"{name}: the {kty} JWK is malformed") from None
    return [_restrict(key, jwk.get("alg"), name)]


def _check_jwks_url(url: str, problems: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    # Plain HTTP lets anyone on the path swap the keys: only a loopback host may use it.
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return
    problems.append(
        f"JWTVerifier: jwks_url {redact_url(url)!r} must use https:// (http:// is allowed "
        "for a loopback host only)"
    )


# -- signatures and claims -------------------------------------------------------------------


def _verifies(algorithm: Any, signed: bytes, key: _Key, signature: bytes) -> bool:
    try:
        return bool(algorithm.verify(signed, algorithm.prepare_key(key.material), signature))
    except (ValueError, TypeError, pyjwt.PyJWTError):
        return False  # a signature or key the algorithm cannot read verifies nothing


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    for name in ("scope", "scp", "scopes"):
        value = normalize_scopes(claims.get(name))
        if value:
            found |= value
    return frozenset(found)
