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


def respond(denied: Denied) -> PlainTextResponse:
    headers = {"WWW-Authenticate": REALM} if denied.status == 401 else None
    return PlainTextResponse(f"{denied.message}\n", status_code=denied.status, headers=headers)


def bad_request(message: str) -> Denied:
    return Denied(400, message)


def forbidden(message: str) -> Denied:
    return Denied(403, message)


def unavailable(message: str) -> Denied:
    return Denied(503, message)
