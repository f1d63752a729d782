"""The root key pair that signs API tokens: Ed25519, from a PEM file or ephemeral.

The file is PKCS#8 PEM (`openssl genpkey -algorithm ed25519`, or `generate_pem`)
rather than biscuit's own hex format: every tool reads it, and `cryptography`
tells a wrong key type apart from a damaged file, so the error can say which.
Verifiers need only the public half, as `ed25519/<hex>`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from biscuit_auth import PrivateKey, PublicKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

log = logging.getLogger(__name__)


class KeyConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RootKey:
    private: PrivateKey
    public: PublicKey

    @property
    def public_text(self) -> str:
        """`ed25519/<hex>`: what a registry configures to verify API tokens."""
        return str(self.public)


def root_key(private: ed25519.Ed25519PrivateKey) -> RootKey:
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    # biscuit's typed constructors take `<algorithm>/<hex>`; its from_bytes signature
    # differs from its stubs in 0.4.
    return RootKey(PrivateKey(f"ed25519-private/{raw.hex()}"), PublicKey(f"ed25519/{public.hex()}"))


def public_key(text: str) -> PublicKey:
    """Parse `ed25519/<hex>`; raises KeyConfigError (the text is public, so it may be shown)."""
    try:
        return PublicKey(text.strip())
    except ValueError:
        raise KeyConfigError(
            f"{text[:80]!r} is not an Ed25519 public key (ed25519/<hex>)"
        ) from None


def load_root_key(path: Path) -> RootKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        # Never echo file content: it is a private key.
        raise KeyConfigError(
            f"{path}: not an unencrypted PEM private key ({type(exc).__name__})"
        ) from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise KeyConfigError(f"{path}: expected an Ed25519 private key for API tokens")
    return root_key(private)


def configured_root_key(path: Path | None) -> RootKey:
    """MINTGATE_API_TOKEN_KEY_FILE's key, or an ephemeral one and a warning nobody can miss."""
    if path is not None:
        return load_root_key(path)
    log.warning(
        "NO API TOKEN KEY CONFIGURED: using an ephemeral root key that dies with this process. "
        "API tokens issued now stop verifying after a restart and on every other replica. "
        "Set MINTGATE_API_TOKEN_KEY_FILE for anything but a demo."
    )
    return root_key(ed25519.Ed25519PrivateKey.generate())


def generate_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
