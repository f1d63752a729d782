"""`mintgate keygen -`: the key goes to a pipe, never to a terminal, and never to a file named -."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import mintgate
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from service.cli import main


def test_dash_writes_the_key_to_standard_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(["keygen", "-"])

    out, err = capsys.readouterr()
    assert code == 0
    key = load_pem_private_key(out.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert "standard output" in err
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_dash_through_a_real_pipe_is_the_key_alone(tmp_path: Path) -> None:
    ran = mintgate("keygen", "-", cwd=tmp_path)

    assert ran.code == 0
    assert ran.stdout.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert ran.stdout.endswith("-----END PRIVATE KEY-----\n")
    assert list(tmp_path.iterdir()) == []


def test_dash_refuses_a_terminal(tmp_path: Path) -> None:
    ran = mintgate("keygen", "-", cwd=tmp_path, terminal="stdout")

    assert ran.code == 2
    assert "PRIVATE KEY" not in ran.stdout + ran.stderr
    assert "refusing to print a private key to a terminal" in ran.stderr
    assert "mintgate keygen signing.pem" in ran.stderr  # names the alternative
    assert list(tmp_path.iterdir()) == []


def test_a_file_named_dash_is_still_possible(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["keygen", "./-"]) == 0

    assert capsys.readouterr().out == "mintgate: wrote -\n"
    assert (tmp_path / "-").stat().st_mode & 0o777 == 0o600
