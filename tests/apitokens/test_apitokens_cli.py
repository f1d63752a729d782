"""`mintgate token attenuate` and `token inspect` on API tokens, through the real main()."""

from __future__ import annotations

import io
import time

import pytest
from apitokenkit import HOUR, State, api_verifier
from fakeissuer import Clock

from service.apitokens.issue import ApiTokenGrant
from service.apitokens.issue import issue as issue_now
from service.apitokens.keys import RootKey
from service.apitokens.verify import VerifiedApiToken
from service.cli import main
from service.publishers.base import Refusal

pytestmark = pytest.mark.anyio


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["token", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_attenuate_then_inspect_round_trip(
    root: RootKey, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    issued = issue(root, now)

    code, out, err = run(
        monkeypatch, capsys, issued + "\n", "attenuate", "--project", "other", "--expires-in", "1h"
    )
    assert (code, err) == (0, "")
    narrowed = out.strip()

    check = api_verifier(root, State(), Clock(now))
    assert isinstance(await check.verify(narrowed, "other"), VerifiedApiToken)
    assert getattr(await check.verify(narrowed, "sampleproject"), "code", None) == (
        "project-not-in-scope"
    )
    expired = await api_verifier(root, State(), Clock(now + HOUR + 5)).verify(narrowed, "other")
    assert isinstance(expired, Refusal)
    assert expired.code == "token-expired"

    code, shown, _ = run(monkeypatch, capsys, narrowed, "inspect")
    assert code == 0
    assert "mintgate API token (UNVERIFIED" in shown
    assert "checksum    ok" in shown
    assert "block 0     authority: issued by mintgate" in shown
    assert 'fact      allowed_project("sampleproject")' in shown
    assert "block 1     appended: can only narrow" in shown
    assert 'check     check if project($p), {"other"}.contains($p)' in shown
    assert "(expires in 59m" in shown or "(expires in 1h)" in shown
    # The biscuit's bytes (signatures, proof) never appear, only the decoded blocks.
    body = narrowed[len("mgapi_") : -7]
    assert all(body[i : i + 24] not in shown for i in range(0, len(body) - 24, 24))


def issue(root: RootKey, now: int) -> str:
    grant = ApiTokenGrant("user-7", "alice", ["sampleproject", "other"], now + 24 * HOUR)
    return issue_now(root, grant, now=now).token


def test_attenuate_with_an_absolute_expiry(
    root: RootKey, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = issue(root, int(time.time()))

    code, out, _ = run(monkeypatch, capsys, token, "attenuate", "--expires-at", "2099-01-01T00:00Z")

    assert code == 0
    assert out.startswith("mgapi_")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        pytest.param(["--project", "elsewhere"], "good", "not valid for elsewhere", id="widen"),
        pytest.param([], "good", "nothing to narrow", id="nothing"),
        pytest.param(["--expires-at", "2000-01-01T00:00Z"], "good", "already past", id="past"),
        pytest.param(["--project", "other"], "pypi-abc", "not a mintgate API token", id="foreign"),
    ],
)
def test_attenuate_explains_what_it_refuses(
    root: RootKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    token = issue(root, int(time.time())) if stdin == "good" else stdin

    code, out, err = run(monkeypatch, capsys, token, "attenuate", *args)

    assert (code, out) == (1, "")
    assert message in err
    assert len(token) < 40 or token[10:40] not in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--expires-in", "soon"], id="bad-span"),
        pytest.param(["--expires-at", "2099-01-01T00:00"], id="zoneless"),
        pytest.param(["--expires-in", "1h", "--expires-at", "2099-01-01T00:00Z"], id="both"),
    ],
)
def test_attenuate_rejects_malformed_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(monkeypatch, capsys, "", "attenuate", *args)

    assert exited.value.code == 2


def test_inspect_flags_a_damaged_api_token(
    root: RootKey, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = issue(root, int(time.time()))

    code, shown, _ = run(monkeypatch, capsys, token[:-6] + "000000", "inspect")
    assert code == 1
    assert "checksum    INVALID" in shown

    code, _, err = run(monkeypatch, capsys, "mgapi_" + "A" * 40, "inspect")
    assert code == 1
    assert "does not decode" in err
