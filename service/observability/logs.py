"""Log records as one JSON object per line, each carrying the request id of its request.

Secrets stay out of logs by construction (refusals name claims, never tokens);
the formatters also mask anything shaped like a JWT or a minted token, so one
careless `log.info("%s", token)` does not leak a credential.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any, TextIO

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mintgate_request_id", default=None
)

# Three base64url parts, the first a JSON header ("eyJ" is '{"' encoded), and minted tokens.
SECRET_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*|mintgate_[A-Za-z0-9_.-]{8,}"
)
REDACTED = "[redacted]"

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# Attributes every LogRecord has; anything else was passed as `extra` and is an event field.
# Except uvicorn's `color_message`: the message again, with ANSI escapes for a terminal.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}


def redact(text: str) -> str:
    return SECRET_SHAPES.sub(REDACTED, text)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the request being handled (or '-')."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": _request_id(record),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in document:
                document[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(document, default=lambda v: redact(str(v)))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return redact(super().format(record))


def _request_id(record: logging.LogRecord) -> str | None:
    stamped = getattr(record, "request_id", None)
    return stamped if isinstance(stamped, str) and stamped != "-" else REQUEST_ID.get()


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def default_format(stream: TextIO) -> str:
    """Without MINTGATE_LOG_FORMAT: text for a person at a terminal, JSON for a collector."""
    try:
        return "text" if stream.isatty() else "json"
    except ValueError:  # a closed stream
        return "json"


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure_logging(kind: str, level: int = logging.INFO) -> None:
    """One stderr handler on the root logger; uvicorn's loggers propagate to it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def worker_log_config(kind: str) -> dict[str, Any]:
    """The same configuration as a dictConfig, which uvicorn applies in each worker process."""
    factory = f"{__name__}.{'JsonFormatter' if kind == 'json' else 'TextFormatter'}"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"mintgate": {"()": factory}},
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "mintgate",
                "filters": ["request_id"],
            }
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
    }


def parse_log_format(raw: str) -> str:
    """`MINTGATE_LOG_FORMAT`: json (one object per line) or text."""
    lowered = raw.lower()
    if lowered not in ("json", "text"):
        raise ValueError(f"expected json or text, got {raw!r}")
    return lowered
