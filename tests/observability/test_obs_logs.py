"""JSON log lines and the request id that ties a request's lines together."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest
from obskit import LOOPBACK_PROXY, captured_logs

from service.observability.logs import (
    REQUEST_ID,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    parse_log_format,
)

pytestmark = pytest.mark.anyio

GENERATED = re.compile(r"[0-9a-f]{32}")


def emit(formatter: logging.Formatter, *args: Any, **kwargs: Any) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("mintgate.test.logs")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(*args, **kwargs)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_json_line_has_time_level_logger_message_request_id_and_event_fields() -> None:
    context = REQUEST_ID.set("req-0123456789")
    try:
        output = emit(
            JsonFormatter(),
            "mint refused: %s\nsecond line",
            "invalid-token",
            extra={"event": "mint-refused", "code": "invalid-token", "attempt": 2},
        )
    finally:
        REQUEST_ID.reset(context)
    assert output.count("\n") == 1  # one object per line, whatever the message holds
    line = json.loads(output)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line.pop("time"))
    assert line == {
        "level": "WARNING",
        "logger": "mintgate.test.logs",
        "message": "mint refused: invalid-token\nsecond line",
        "request_id": "req-0123456789",
        "event": "mint-refused",
        "code": "invalid-token",
        "attempt": 2,
    }


def test_outside_a_request_the_request_id_is_null_and_exceptions_are_one_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        output = emit(JsonFormatter(), "failed", exc_info=True)
    line = json.loads(output)
    assert line["request_id"] is None
    assert "ValueError: boom" in line["exception"]


def test_both_formats_mask_anything_shaped_like_a_token() -> None:
    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    minted = "mintgate_eyJhbGciOiJFUzI1NiJ9.e30.sig_abc123"
    for formatter in (JsonFormatter(), TextFormatter()):
        output = emit(formatter, "careless: %s %s", jwt_like, minted, extra={"raw": jwt_like})
        assert "eyJ" not in output
        assert "mintgate_" not in output
        assert "[redacted]" in output


def test_the_text_format_carries_the_request_id() -> None:
    context = REQUEST_ID.set("req-abcdefgh")
    try:
        output = emit(TextFormatter(), "hello")
    finally:
        REQUEST_ID.reset(context)
    assert "WARNING mintgate.test.logs [req-abcdefgh] hello" in output


@pytest.mark.parametrize(("raw", "kind"), [("json", "json"), ("TEXT", "text")])
def test_log_format_parses(raw: str, kind: str) -> None:
    assert parse_log_format(raw) == kind


def test_an_unknown_log_format_stops_start_up() -> None:
    from service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="MINTGATE_LOG_FORMAT"):
        Settings.from_env({"MINTGATE_LOG_FORMAT": "yaml"})


async def test_each_request_gets_an_id_in_its_logs_and_its_response(make_client: Any) -> None:
    with captured_logs(logging.INFO) as logs:
        async with make_client() as client:
            first = await client.post("/_/oidc/mint-token", json={"token": "junk"})
            second = await client.post(
                "/_/oidc/mint-token",
                json={"token": "junk"},
                headers={"X-Request-Id": "chosen-by-the-client-01"},
            )
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    # Without a trusted proxy a caller cannot name its request.
    assert all(GENERATED.fullmatch(i) for i in ids)
    assert ids[0] != ids[1]
    refusals = [e for e in logs.events() if e.get("event") == "mint-refused"]
    assert [e["request_id"] for e in refusals] == ids
    assert refusals[0]["code"] == "invalid-token"
    assert refusals[0]["provider"] == "unknown"


@pytest.mark.parametrize(
    ("given", "honoured"),
    [
        ("f81d4fae-7dec-11d0-a765-00a0c91e6bf6", True),
        ("nginx.0123456789abcdef", True),
        ("short", False),
        ("x" * 129, False),
        ("has space 0123456789", False),
        ('quote"0123456789', False),
        ("-starts-with-dash-0123", False),
        ("ünïcode-0123456789", False),
    ],
    ids=["uuid", "nginx", "too-short", "too-long", "space", "quote", "leading-dash", "non-ascii"],
)
async def test_a_trusted_proxys_request_id_is_kept_only_when_it_is_plain(
    make_client: Any, given: str, honoured: bool
) -> None:
    with captured_logs(logging.INFO) as logs:
        async with make_client(trusted_proxies=LOOPBACK_PROXY) as client:
            response = await client.post(
                "/_/oidc/mint-token",
                json={"token": "junk"},
                headers={"X-Request-Id": given.encode()},  # type: ignore[dict-item]
            )
    echoed = response.headers["x-request-id"]
    assert (echoed == given) is honoured
    if not honoured:
        assert GENERATED.fullmatch(echoed)
    refused = next(e for e in logs.events() if e.get("event") == "mint-refused")
    assert refused["request_id"] == echoed
