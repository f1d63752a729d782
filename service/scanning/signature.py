"""The partner request's signature: ECDSA P-256 with SHA-256 over the raw body.

GitHub sends a base64 DER signature in `Github-Public-Key-Signature`. It is
checked over the bytes received, never over re-serialised JSON, and before the
body is parsed at all.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# A DER P-256 signature is at most 72 bytes (96 in base64); anything longer is not one.
MAX_SIGNATURE_CHARS = 128


def decode_signature(header: str) -> bytes | None:
    if len(header) > MAX_SIGNATURE_CHARS:
        return None
    try:
        # validate=True: stray characters are an error, not silently skipped.
        return base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify(key: ec.EllipticCurvePublicKey, body: bytes, signature: bytes) -> bool:
    try:
        key.verify(signature, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
