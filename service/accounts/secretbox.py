"""Encryption at rest for secrets we must be able to use again (TOTP seeds).

AES-256-GCM from `cryptography`. Each ciphertext is bound to what it belongs
to (associated data such as b"totp:42"), so someone who can write the
database cannot move a known seed onto another user's row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

VERSION = b"\x01"
KEY_ID_BYTES = 8
NONCE_BYTES = 12


class SecretKeyError(ValueError):
    """The key file is unusable; the message never contains its content."""


class UndecryptableSecret(Exception):
    """Stored with another key, or altered; the message says which, not the secret."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretKeyError("expected a 256-bit (32-byte) key")
        self._aead = AESGCM(key)
        # A short fingerprint stored with each ciphertext: after a key change we
        # can say "encrypted with another key" instead of a bare tag failure.
        self.key_id = hashlib.sha256(b"mintgate-secretbox" + key).digest()[:KEY_ID_BYTES]

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: fine far below 2**32 uses
        return VERSION + self.key_id + nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, blob: bytes, context: bytes) -> bytes:
        head = 1 + KEY_ID_BYTES
        if blob[:1] != VERSION:
            raise UndecryptableSecret("unknown ciphertext format")
        if blob[1:head] != self.key_id:
            raise UndecryptableSecret(
                "encrypted with a different key: was MINTGATE_SECRET_KEY_FILE changed or unset?"
            )
        nonce, sealed = blob[head : head + NONCE_BYTES], blob[head + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, context)
        except InvalidTag:
            raise UndecryptableSecret("ciphertext altered or bound to another record") from None


def generate_key() -> str:
    """A new key in the file format: 32 random bytes, URL-safe base64, one line."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def load_secret_box(path: Path) -> SecretBox:
    try:
        raw = path.read_text(encoding="ascii").strip()
        key = base64.urlsafe_b64decode(raw)
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError):
        raise SecretKeyError(
            f"{path}: expected one line of URL-safe base64 encoding 32 random bytes"
        ) from None
    if len(key) != 32:
        raise SecretKeyError(f"{path}: expected 32 bytes after base64 decoding, got {len(key)}")
    return SecretBox(key)


def ephemeral_secret_box() -> SecretBox:
    # The one warning for a missing MINTGATE_SECRET_KEY_FILE: the web forms' CSRF key is
    # derived from the same file (service/web/csrf.py), so it names that consequence too.
    log.warning(
        "NO SECRET KEY CONFIGURED: TOTP secrets are encrypted, and web form tokens signed, with "
        "keys that die with this process. After a restart no enrolled authenticator app will "
        "work (users must fall back to recovery codes), and forms opened before it, or served "
        "by another worker or replica, are refused. Set MINTGATE_SECRET_KEY_FILE for anything "
        "but a demo."
    )
    return SecretBox(AESGCM.generate_key(bit_length=256))
