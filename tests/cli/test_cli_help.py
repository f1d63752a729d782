"""`mintgate --help` says what mintgate is; serve, check and gateway list what they read."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from service.cli import main
from service.commands import COMMANDS

SERVICE = Path(__file__).resolve().parents[2] / "service"
NAME = re.compile(r"MINTGATE_[A-Z0-9_]+")
# The reads as the settings code spells them: r.get("X", ...), r.get(f"{PREFIX}X", ...),
# r.get(f"{prefix}X", ...) and the gateway's _required(r, "X", ...). An oracle of its own,
# apart from the recording the help is made with.
READ = re.compile(r'r\.get\(\s*f?"(?:\{(PREFIX|prefix)\})?([A-Z][A-Z0-9_]*)"')
REQUIRED = re.compile(r'_required\(r, "([A-Z][A-Z0-9_]*)"')


def reads(
    path: str, prefix: str, placeholders: tuple[str, ...] = ("", "PREFIX", "prefix")
) -> set[str]:
    source = (SERVICE / path).read_text()
    found = {
        f"MINTGATE_{prefix}{name}" for held, name in READ.findall(source) if held in placeholders
    }
    if "PREFIX" in placeholders:  # _required adds the module's own prefix
        found |= {f"MINTGATE_{prefix}{name}" for name in REQUIRED.findall(source)}
    return found


GATEWAY_READS = reads("gateway/settings.py", "GATEWAY_")
SERVICE_READS = (
    reads("settings.py", "")
    | reads("staging/settings.py", "STAGING_")
    # backend_password(r, PREFIX) lives with the gateway's settings; staging calls it too.
    | reads("gateway/settings.py", "STAGING_", placeholders=("prefix",))
    # One origin: with MINTGATE_GATEWAY_BACKEND_URL, serve runs the gateway's app itself.
    | GATEWAY_READS
)


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    out: str = capsys.readouterr().out
    return out


def test_top_level_help_says_what_mintgate_is(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = help_of(capsys)

    assert "trusted publishing" in out
    assert "OIDC" in out
    assert "service/commands" not in out  # the code's layout is for the code's readers


@pytest.mark.parametrize("command", COMMANDS, ids=[c.NAME for c in COMMANDS])
def test_top_level_help_gives_each_command_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: ModuleType
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    lines = help_of(capsys).splitlines()

    assert any(line.split(None, 1) == [command.NAME, command.HELP] for line in lines)


@pytest.mark.parametrize(
    ("command", "expected", "section"),
    [
        pytest.param("serve", SERVICE_READS, "Configuration", id="serve"),
        pytest.param("check", SERVICE_READS, "Configuration", id="check"),
        pytest.param("gateway", GATEWAY_READS, "Upload gateway", id="gateway"),
    ],
)
def test_help_lists_every_variable_the_settings_read(
    capsys: pytest.CaptureFixture[str], command: str, expected: set[str], section: str
) -> None:
    out = help_of(capsys, command)

    assert len(expected) > 15  # the oracle found the reads, so this cannot pass vacuously
    assert set(NAME.findall(out)) == expected
    assert f'README.md, "{section}"' in out


def test_optional_groups_are_listed_although_unset(capsys: pytest.CaptureFixture[str]) -> None:
    # Read only once MINTGATE_STAGING_DIR is set; the help is made without it.
    out = help_of(capsys, "serve")

    assert "MINTGATE_STAGING_BACKEND_PASSWORD_FILE" in out
    assert "MINTGATE_STAGING_BACKEND_TIMEOUT" in out
