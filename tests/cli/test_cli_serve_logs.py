"""What `mintgate serve` logs at start-up: one warning per missing key, JSON without
uvicorn's ANSI-coloured copy of each message, and text when a person is watching.

The port is taken before the server starts, so uvicorn logs its start-up, fails to
bind and exits: the whole start-up is seen, and nothing is left running.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from clikit import Ran, mintgate

from service.observability.logs import JsonFormatter, RequestIdFilter

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) \S+ \[-\] ")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def serve(tmp_path: Path, port: int, terminal: str | None, **env: str) -> Ran:
    ran = mintgate(
        "serve", cwd=tmp_path, env={"MINTGATE_PORT": str(port), **env}, terminal=terminal
    )
    assert ran.code != 0  # it could not bind
    assert "address already in use" in ran.stderr
    return ran


def json_lines(ran: Ran) -> list[dict[str, object]]:
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]


def test_one_warning_for_the_missing_secret_key(tmp_path: Path, taken_port: int) -> None:
    records = json_lines(serve(tmp_path, taken_port, None))

    about = [r for r in records if "MINTGATE_SECRET_KEY_FILE" in str(r["message"])]
    assert len(about) == 1
    (warning,) = about
    assert warning["level"] == "WARNING"
    assert "TOTP" in str(warning["message"])  # both consequences, in the one warning
    assert "web form" in str(warning["message"])
    assert not any("per-process key" in str(r["message"]) for r in records)


def test_each_missing_key_is_warned_about_once(tmp_path: Path, taken_port: int) -> None:
    records = json_lines(serve(tmp_path, taken_port, None))

    warnings = [str(r["message"]) for r in records if r["level"] == "WARNING"]
    for variable in (
        "MINTGATE_SIGNING_KEY_FILES",
        "MINTGATE_API_TOKEN_KEY_FILE",
        "MINTGATE_SECRET_KEY_FILE",
    ):
        assert sum(variable in w for w in warnings) == 1, (variable, warnings)
    assert len(warnings) == 3


def test_json_logs_carry_no_colour_codes(tmp_path: Path, taken_port: int) -> None:
    ran = serve(tmp_path, taken_port, None)
    records = json_lines(ran)

    assert any(str(r["message"]).startswith("Started server process") for r in records)
    assert not any("color_message" in r for r in records)
    assert "\x1b" not in ran.stderr
    assert "\\u001b" not in ran.stderr


def test_a_terminal_gets_text_by_default(tmp_path: Path, taken_port: int) -> None:
    ran = serve(tmp_path, taken_port, "stderr")

    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines
    assert all(TEXT_LINE.match(line) for line in lines), lines
    assert any("NO SECRET KEY CONFIGURED" in line for line in lines)


def test_a_terminal_gets_json_when_asked(tmp_path: Path, taken_port: int) -> None:
    # The default gives way to MINTGATE_LOG_FORMAT (this row holds the fix's limit).
    ran = serve(tmp_path, taken_port, "stderr", MINTGATE_LOG_FORMAT="json")

    assert any(r["level"] == "WARNING" for r in json_lines(ran))


def test_the_json_formatter_drops_color_message() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.error",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "Started server process [%d]",
            "args": (42,),
            "color_message": "Started server process [\x1b[36m%d\x1b[0m]",
            "event": "kept",
        }
    )
    RequestIdFilter().filter(record)

    document = json.loads(JsonFormatter().format(record))

    assert document["message"] == "Started server process [42]"
    assert "color_message" not in document
    assert document["event"] == "kept"  # other extra fields are still event fields
