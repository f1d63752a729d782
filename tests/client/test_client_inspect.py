"""`mintgate token inspect`: explains a token, unverified, and never shows its signature."""

from __future__ import annotations

import io

import jwt
import pytest
from fakeissuer import NOW

from service.cli import main
from service.client.inspection import decode, render
from service.minting.keys import ephemeral_signing_keys
from service.minting.tokens import PREFIX, Grant, Minter, serialize, unwrap


def minted(ttl: int = 900) -> str:
    minter = Minter(ephemeral_signing_keys(), issuer="https://m.example", audience="up", ttl=ttl)
    grant = Grant(
        subject="github:repo:octo-org/sampleproject:environment:pypi",
        provider="github",
        projects=["sampleproject", "other"],
        publishers=["github:octo-org/sampleproject:release.yml"],
        provenance={"sha": "a" * 40},
    )
    return minter.mint(grant, now=NOW).token


def signature(token: str) -> str:
    inner = unwrap(token)
    assert inner is not None
    return inner.rsplit(".", 1)[1]


def inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["token", "inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_minted_token_shows_projects_and_expiry_but_not_its_signature() -> None:
    token = minted()
    decoded = decode(token)
    assert not isinstance(decoded, str)

    text = "\n".join(render(decoded, now=NOW + 60))

    assert "UNVERIFIED" in text
    assert "checksum    ok" in text
    assert "alg=ES256 kid=" in text
    assert "projects    other, sampleproject" in text
    assert "provider    github" in text
    assert "publishers  github:octo-org/sampleproject:release.yml" in text
    assert "provenance  sha=" + "a" * 40 in text
    assert "issued      2027-01-15T08:00:00Z" in text
    assert "expires     2027-01-15T08:15:00Z (expires in 14m)" in text
    assert signature(token) not in text


def test_expired_token_says_how_long_ago() -> None:
    decoded = decode(minted(ttl=60))
    assert not isinstance(decoded, str)

    assert "(expired 2h 59m ago)" in "\n".join(render(decoded, now=NOW + 3 * 3600))


@pytest.mark.parametrize("args", [["-"], []], ids=["dash", "no-argument"])
def test_token_read_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    token = minted()
    monkeypatch.setattr("sys.stdin", io.StringIO(f"  {token}\n"))

    code, out, err = inspect(capsys, *args)

    assert code == 0, err
    assert "projects    other, sampleproject" in out
    assert signature(token) not in out + err


def test_flipped_checksum_is_shown_as_invalid_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = minted()
    broken = token[:-1] + ("A" if token[-1] != "A" else "B")

    code, out, _ = inspect(capsys, broken)

    assert code == 1
    assert "checksum    INVALID" in out
    assert "projects    other, sampleproject" in out


def hostile_claims() -> str:
    # A crafted token: its claims try to drive the terminal and the CI log.
    body = jwt.encode({"projects": ["\x1b[2Jx", "::add-mask::y\n::set-output"]}, "k" * 32)
    return serialize(body)


def test_control_characters_in_claims_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = inspect(capsys, hostile_claims())

    assert code == 0
    assert "\x1b" not in out
    assert "\\x1b[2Jx" in out
    assert "\n::set-output" not in out


GARBAGE = [
    pytest.param(
        "hello", "minted tokens start with 'mintgate_', API tokens with 'mgapi_'", id="text"
    ),
    pytest.param("pypi-AgEIcHlwaS5vcmc", "looks like a PyPI API token", id="pypi-token"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "looks like a bare JWT", id="bare-jwt"),
    pytest.param(PREFIX + "nodots_AbC123", "no JWT", id="prefix-no-jwt"),
    pytest.param(PREFIX + "eyJ!!.e30.x_AbC123", "does not decode", id="prefix-bad-base64"),
    pytest.param(PREFIX + "WzFd.e30.x_AbC123", "does not decode", id="header-not-object"),
    pytest.param("", "no token given", id="empty"),
]


@pytest.mark.parametrize(("text", "message"), GARBAGE)
def test_garbage_exits_1_without_echoing_it(
    capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, out, err = inspect(capsys, text)

    assert code == 1
    assert out == ""
    assert message in err
    if text:
        assert text not in err
