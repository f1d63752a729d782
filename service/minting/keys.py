"""The service's signing keys: one active, the rest still published for verification.

Rotation without downtime: add the new key as a second file, wait for caches
of the JWKS to pick it up, then move it first (active) and keep the old one
published until every token it signed has expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

log = logging.getLogger(__name__)

ALGORITHM = "ES256"


class KeyConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


@dataclass(frozen=True, slots=True)
class SigningKeys:
    active: SigningKey
    retired: tuple[SigningKey, ...] = ()

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in (self.active, *self.retired)]}


def signing_key(private: ec.EllipticCurvePrivateKey) -> SigningKey:
    if not isinstance(private.curve, ec.SECP256R1):
        raise KeyConfigError(f"expected a P-256 key for {ALGORITHM}, got {private.curve.name}")
    return SigningKey(kid=thumbprint(private.public_key()), private=private)


def thumbprint(public: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid every replica derives the same from the key."""
    jwk = json.loads(ECAlgorithm.to_jwk(public))
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_signing_keys(paths: Sequence[Path]) -> SigningKeys:
    keys = [_load(path) for path in paths]
    if not keys:
        raise KeyConfigError("no signing key files given")
    if len({k.kid for k in keys}) != len(keys):
        raise KeyConfigError("the same signing key is configured twice")
    return SigningKeys(active=keys[0], retired=tuple(keys[1:]))


def ephemeral_signing_keys() -> SigningKeys:
    log.warning(
        "NO SIGNING KEY CONFIGURED: using an ephemeral key that dies with this process. "
        "Tokens minted now cannot be verified after a restart or by another replica. "
        "Set MINTGATE_SIGNING_KEY_FILES for anything but a demo."
    )
    return SigningKeys(active=signing_key(ec.generate_private_key(ec.SECP256R1())))


def _load(path: Path) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        # Never echo file content: it is a private key.
        raise KeyConfigError(
            f"{path}: not an unencrypted PEM private key ({type(exc).__name__})"
        ) from None
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise KeyConfigError(f"{path}: expected an EC P-256 private key")
    try:
        return signing_key(private)
    except KeyConfigError as exc:
        raise KeyConfigError(f"{path}: {exc}") from None


def generate_pem() -> bytes:
    """A new P-256 private key as PEM, for `mintgate keygen`."""
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
