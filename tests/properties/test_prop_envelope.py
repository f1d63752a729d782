"""open_envelope: never raises, and only a JWT-shaped token gets past it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from propkit import FAST, jwt_shaped, segment

from service.oidc.envelope import MAX_TOKEN_BYTES, Envelope, open_envelope
from service.publishers.base import INVALID_TOKEN, Refusal

ISSUER = "https://token.actions.githubusercontent.com"


def lenient(part: str) -> Any:
    """The stdlib's reading of one part (as PyJWT reads it later), or None."""
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return None


def check(token: str) -> Envelope | Refusal:
    opened = open_envelope(token)
    if isinstance(opened, Refusal):
        assert opened.code == INVALID_TOKEN
        return opened
    assert isinstance(opened, Envelope)
    # What got through is a compact JWT whose header and payload say what the envelope says.
    assert token.isascii()
    assert len(token) <= MAX_TOKEN_BYTES
    parts = token.split(".")
    assert len(parts) == 3
    assert all(parts)
    header, payload = lenient(parts[0]), lenient(parts[1])
    assert isinstance(header, dict)
    assert isinstance(payload, dict)
    assert (header["alg"], header["kid"], payload["iss"]) == (
        opened.alg,
        opened.kid,
        opened.issuer,
    )
    assert all(isinstance(v, str) and v for v in (opened.alg, opened.kid, opened.issuer))
    return opened


@FAST
@given(st.text())
@example("a.b.c")
@example("..")
@example(".".join([segment({"alg": "ES256", "kid": "k"}), segment({"iss": ISSUER}), "sig"]))
def test_any_text_is_opened_or_refused_as_invalid_token(token: str) -> None:
    check(token)


@FAST
@given(jwt_shaped(issuers=(ISSUER,)))
def test_jwt_shaped_text_is_opened_only_when_header_and_payload_say_so(token: str) -> None:
    check(token)


def not_three_parts(text: str) -> bool:
    parts = text.split(".")
    return len(parts) != 3 or not all(parts)


@FAST
@given(
    st.text().filter(not_three_parts)
    | st.lists(st.text(alphabet="abcXYZ019-_=", max_size=12), min_size=0, max_size=6)
    .map(".".join)
    .filter(not_three_parts)
)
def test_text_without_three_non_empty_parts_is_refused(token: str) -> None:
    assert isinstance(check(token), Refusal)


@FAST
@given(st.text(min_size=1).filter(lambda t: not t.isascii()), st.integers(0, 200))
def test_non_ascii_is_refused_wherever_it_sits(bad: str, at: int) -> None:
    good = ".".join([segment({"alg": "ES256", "kid": "k"}), segment({"iss": ISSUER}), "sig"])
    at = min(at, len(good))
    assert isinstance(check(good[:at] + bad + good[at:]), Refusal)


@FAST
@given(st.integers(1, 4 * MAX_TOKEN_BYTES))
def test_oversized_tokens_are_refused(extra: int) -> None:
    head = ".".join([segment({"alg": "ES256", "kid": "k"}), segment({"iss": ISSUER}), ""])
    token = head + "A" * (MAX_TOKEN_BYTES - len(head) + extra)
    refusal = check(token)
    assert isinstance(refusal, Refusal)
    assert "larger" in refusal.description
