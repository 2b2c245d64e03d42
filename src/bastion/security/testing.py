"""Test helpers: mint real signed JWTs with a fresh key and get the matching verifier."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from bastion.security.jwt import JWTVerifier

__all__ = ["TokenFactory"]

_CURVES: dict[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1(),
}  # fmt: skip


class TokenFactory:
    """A fresh signing key for `alg` that mints tokens, with its JWK and a verifier.

    `TokenFactory("ES256").mint("alice", scopes=["api:read"])` returns a token that
    `factory.verifier()` accepts. Keys are generated in memory and never leave the process.
    """

    def __init__(
        self,
        alg: str = "ES256",
        *,
        kid: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        self.alg = alg
        self.kid = kid if kid is not None else uuid.uuid4().hex[:12]
        self.issuer = issuer
        self.audience = audience
        self.private_key: Any
        self.public_key: Any
        if alg.startswith("HS"):
            self.private_key = self.public_key = secrets.token_bytes(64)
        elif alg.startswith(("RS", "PS")):
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.public_key = self.private_key.public_key()
        elif alg in _CURVES:
            self.private_key = ec.generate_private_key(_CURVES[alg])
            self.public_key = self.private_key.public_key()
        elif alg == "EdDSA":
            self.private_key = ed25519.Ed25519PrivateKey.generate()
            self.public_key = self.private_key.public_key()
        else:
            raise ValueError(f"TokenFactory: unsupported algorithm {alg!r}")

    def jwk(self) -> dict[str, Any]:
        """Return the public key as a JWK (with `kid` and `alg`); HMAC keys have none."""
        if self.alg.startswith("HS"):
            raise ValueError("an HMAC secret has no public JWK")
        if self.alg.startswith(("RS", "PS")):
            data = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        elif self.alg == "EdDSA":
            data = OKPAlgorithm.to_jwk(self.public_key, as_dict=True)
        else:
            data = ECAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        """Return a JWKS document holding this factory's public key."""
        return {"keys": [self.jwk()]}

    def verifier(self, **options: Any) -> JWTVerifier:
        """Return a `JWTVerifier` for this key; `options` override its defaults."""
        defaults: dict[str, Any] = {
            "keys": {self.kid: self.public_key},
            "algorithms": [self.alg],
            "issuer": self.issuer,
            "audience": self.audience,
        }
        return JWTVerifier(**{**defaults, **options})

    def mint(
        self,
        subject: str = "user",
        *,
        scopes: Iterable[str] = (),
        expires_in: float | None = 300,
        not_before: float | None = None,
        issued_at: float | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """Return a signed token for `subject` with `scopes` (as `scope`), valid `expires_in` s.

        `not_before` and `issued_at` are absolute UNIX times; `claims` are added as given.
        """
        now = time.time()
        payload: dict[str, Any] = {"sub": subject, "iat": int(issued_at or now)}
        if expires_in is not None:
            payload["exp"] = int(now + expires_in)
        if not_before is not None:
            payload["nbf"] = int(not_before)
        scope_list = list(scopes)
        if scope_list:
            payload["scope"] = " ".join(scope_list)
        if self.issuer is not None:
            payload["iss"] = self.issuer
        if self.audience is not None:
            payload["aud"] = self.audience
        payload.update(claims)
        head = {"kid": self.kid, **(headers or {})}
        return pyjwt.encode(payload, self.private_key, algorithm=self.alg, headers=head)
