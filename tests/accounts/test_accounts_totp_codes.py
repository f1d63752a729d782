"""TOTP codes with an injected clock, enrolment material, and the secret box."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from fakeissuer import NOW

from service.accounts import recovery, totp
from service.accounts.secretbox import (
    SecretBox,
    SecretKeyError,
    UndecryptableSecret,
    ephemeral_secret_box,
    generate_key,
    load_secret_box,
)

SECRET = bytes(range(20))


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-2, False), (-1, True), (0, True), (1, True), (2, False)],
    ids=["two-steps-early", "one-step-early", "current", "one-step-late", "two-steps-late"],
)
@pytest.mark.parametrize("within", [0, 29], ids=["step-start", "step-end"])
def test_one_step_of_drift_either_side(offset: int, accepted: bool, within: int) -> None:
    now = NOW + within
    code = totp.generate(SECRET, now + offset * totp.STEP)
    step = totp.matching_step(SECRET, code, now)
    assert (step is not None) is accepted
    if accepted:
        assert step == totp.step_at(now) + offset


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.matching_step(SECRET, code, NOW) is None


def test_spaces_inside_a_code_are_ignored() -> None:
    code = totp.generate(SECRET, NOW)
    assert totp.matching_step(SECRET, f"{code[:3]} {code[3:]}", NOW) == totp.step_at(NOW)


def test_enrolment_gives_an_otpauth_uri_and_a_qr_code() -> None:
    enrolment = totp.enrolment(SECRET, "alice", "mintgate")
    uri = urlparse(enrolment.uri)
    query = parse_qs(uri.query)
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/mintgate:alice")
    assert query["secret"] == [base64.b32encode(SECRET).decode().rstrip("=")]
    assert query["issuer"] == ["mintgate"]
    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]
    assert enrolment.manual_key == query["secret"][0]
    assert enrolment.qr_svg.startswith(b"<svg")
    assert enrolment.manual_key not in repr(enrolment)


def test_recovery_codes_are_distinct_readable_and_forgiving() -> None:
    codes = recovery.generate()
    assert len(set(codes)) == 8
    assert all(len(c) == 19 and c.count("-") == 3 for c in codes)
    assert recovery.hash_code(codes[0]) == recovery.hash_code(codes[0].upper().replace("-", " "))
    assert recovery.hash_code(codes[0]) != recovery.hash_code(codes[1])


def test_secret_box_round_trip_is_bound_to_its_record() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.encrypt(SECRET, b"totp:1")
    assert SECRET not in sealed
    assert box.decrypt(sealed, b"totp:1") == SECRET
    with pytest.raises(UndecryptableSecret, match="bound to another record"):
        box.decrypt(sealed, b"totp:2")  # copied onto another user's row
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UndecryptableSecret, match="altered"):
        box.decrypt(tampered, b"totp:1")


def test_another_key_is_named_as_the_cause() -> None:
    sealed = SecretBox(os.urandom(32)).encrypt(SECRET, b"totp:1")
    with pytest.raises(UndecryptableSecret, match="MINTGATE_SECRET_KEY_FILE changed or unset"):
        SecretBox(os.urandom(32)).decrypt(sealed, b"totp:1")


def test_key_file_loads_and_bad_files_never_echo_content(tmp_path: Path) -> None:
    good = tmp_path / "secret.key"
    good.write_text(generate_key() + "\n")
    box = load_secret_box(good)
    assert load_secret_box(good).decrypt(box.encrypt(b"x", b"c"), b"c") == b"x"
    bad = tmp_path / "bad.key"
    bad.write_text("c2VjcmV0LXNob3J0\n")  # base64 of a short secret
    with pytest.raises(SecretKeyError) as caught:
        load_secret_box(bad)
    assert "c2VjcmV0" not in str(caught.value)
    assert "32 bytes" in str(caught.value)


def test_ephemeral_key_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    ephemeral_secret_box()
    assert "NO SECRET KEY CONFIGURED" in caplog.text
    assert "MINTGATE_SECRET_KEY_FILE" in caplog.text
