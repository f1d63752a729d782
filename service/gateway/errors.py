"""Why an upload was not forwarded, as a value; and the one place it becomes a response.

Messages are plain text for a person reading twine's output. They name the
project and the reason, never the token or the gateway's own credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import PlainTextResponse

REALM = 'Basic realm="mintgate upload gateway"'


@dataclass(frozen=True, slots=True)
class Denied:
    status: int
    message: str
    # A stable kebab-case code, put first in the answer so scripts can match on it.
    code: str | None = None


def respond(denied: Denied) -> PlainTextResponse:
    headers = {"WWW-Authenticate": REALM} if denied.status == 401 else None
    text = denied.message if denied.code is None else f"{denied.code}: {denied.message}"
    return PlainTextResponse(f"{text}\n", status_code=denied.status, headers=headers)


def bad_request(message: str, code: str | None = None) -> Denied:
    return Denied(400, message, code)


def forbidden(message: str) -> Denied:
    return Denied(403, message)


def unavailable(message: str) -> Denied:
    return Denied(503, message)
