"""TOTP (RFC 6238): enrolment material and code checks, pure and with a clock passed in.

SHA-1, 6 digits, 30-second steps: what every authenticator app supports.
One step of drift either side (RFC 6238 section 5.2) absorbs clock skew and
the seconds a person takes to type.
"""

from __future__ import annotations

import base64
import io
import re
import secrets
from dataclasses import dataclass

import segno
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DIGITS = 6
STEP = 30
DRIFT = 1
SECRET_BYTES = 20  # 160 bits, the length RFC 4226 section 4 recommends


@dataclass(frozen=True, slots=True)
class Enrolment:
    """Shown once to the person enrolling; never logged or stored in clear."""

    uri: str
    qr_svg: bytes
    manual_key: str  # base32, for apps without a camera

    def __repr__(self) -> str:
        return "Enrolment(<secret>)"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def _totp(secret: bytes) -> TOTP:
    # SHA-1 in HMAC is sound, and the only algorithm every app implements.
    return TOTP(secret, DIGITS, SHA1(), STEP, enforce_key_length=True)  # noqa: S303


def enrolment(secret: bytes, account: str, issuer: str) -> Enrolment:
    uri = _totp(secret).get_provisioning_uri(account, issuer)
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False)
    manual = base64.b32encode(secret).decode().rstrip("=")
    return Enrolment(uri=uri, qr_svg=out.getvalue(), manual_key=manual)


def step_at(now: float) -> int:
    return int(now // STEP)


def generate(secret: bytes, now: float) -> str:
    """The code an authenticator shows at `now` (tests and tooling)."""
    return _totp(secret).generate(now).decode()


# What a person may type, and nothing else: ASCII spaces, tabs or a line end around
# (a paste), exactly six ASCII digits, and at most one separator, a space or a
# hyphen, in the middle where authenticator apps show a gap ("123 456"). str.isdigit
# and int() take other scripts' digits (full-width U+FF10-FF19, Arabic-Indic...) and
# str.strip() takes Unicode spaces: neither is used here. Every accepted spelling of
# a code means the same six digits, and single use is keyed on the time step the
# code matched (matching_step, RFC 6238 section 5.2), never on the text: no variant
# of a used code can be a second use.
AROUND = " \t\r\n"
CODE = re.compile(r"([0-9]{3})[ -]?([0-9]{3})")


def normalize(code: str) -> str | None:
    """The six digits of a code as typed, or None when it is not one."""
    found = CODE.fullmatch(code.strip(AROUND))
    return None if found is None else found[1] + found[2]


def matching_step(secret: bytes, code: str, now: float) -> int | None:
    """The time step within drift whose code this is, or None.

    The caller still has to check the step against the last one used: a
    correct code is not enough, it must also be new.
    """
    canonical = normalize(code)
    if canonical is None:
        return None
    totp = _totp(secret)
    current = step_at(now)
    for step in range(current - DRIFT, current + DRIFT + 1):
        try:
            totp.verify(canonical.encode(), step * STEP)  # constant-time comparison inside
        except InvalidToken:
            continue
        return step
    return None
