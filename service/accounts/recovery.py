"""Recovery codes: the way back in when the authenticator is lost.

Each code is 80 random bits. A fast hash is enough for them (unlike
passwords): slow hashes exist to make guessing a human-chosen secret
expensive, and there is nothing to guess about 2**80 random values, so
SHA-256 keeps a stolen table useless while redemption stays one indexed
conditional UPDATE. No salt either, for the same reason: no two users share
a code and no precomputed table covers 80-bit random strings.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

COUNT = 8
CODE_BYTES = 10  # 80 bits -> 16 base32 characters


def generate(count: int = COUNT) -> list[str]:
    """Codes as shown to the person: four groups of four, lower case."""
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


LENGTH = 16  # base32 characters of CODE_BYTES
ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def normalize(code: str) -> str:
    """Accept what people type: any case, with or without dashes and spaces."""
    return "".join(ch for ch in code.lower() if ch not in "- ")


def well_formed(code: str) -> bool:
    """Could this be one of our codes? Checked before anything is hashed or looked up.

    ASCII first: str.lower() maps some non-ASCII letters onto ASCII ones (the
    Kelvin sign to "k"), and a code has only one spelling per character.
    """
    if not code.isascii():
        return False
    canonical = normalize(code)
    return len(canonical) == LENGTH and set(canonical) <= ALPHABET


def hash_code(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()
