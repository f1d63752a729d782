"""Refusals -> JSON errors for /api/v1, in one shape and with one status table.

`{"message": ..., "errors": [{"code", "description"}]}`: the message names the
class of failure, each error a stable kebab-case code and a sentence. The
status comes from the code, so the account layer never thinks in HTTP.
"""

from __future__ import annotations

import logging
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.accounts.secretbox import UndecryptableSecret
from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.ratelimit import RateLimited

log = logging.getLogger(__name__)

INVALID_PAYLOAD: Final = "invalid-payload"
UNSUPPORTED_MEDIA_TYPE: Final = "unsupported-media-type"
PAYLOAD_TOO_LARGE: Final = "payload-too-large"
CROSS_ORIGIN: Final = "cross-origin-request"

_BY_STATUS: Final[dict[int, tuple[str, ...]]] = {
    400: ("invalid-publisher-config", "invalid-token-request"),
    401: ("not-signed-in", "session-expired", "invalid-credentials"),
    403: (
        "two-factor-required",
        "recent-two-factor-required",
        "two-factor-pending",
        "approval-confirmation-required",
        "approval-confirmation-stale",
        "not-an-owner",
        "not-a-maintainer",
        "not-a-member",
        "trusted-publishing-only",
        CROSS_ORIGIN,
    ),
    404: (
        "not-found",
        "no-such-user",
        "no-such-project",
        "no-such-project-or-organization",
        "no-such-invitation",
        "no-such-two-factor-method",
        "no-such-publisher",
        "no-such-pending-publisher",
        "no-such-token",
        "no-such-staged-release",
        "no-such-role",
    ),
    409: (
        "username-taken",
        "name-taken",
        "already-a-member",
        "invitation-pending",
        "invitation-expired",
        "totp-already-confirmed",
        "totp-not-enrolled",
        "webauthn-not-enrolled",
        "security-key-exists",
        "last-two-factor-method",
        "publisher-exists",
        "staged-release-decided",
        "staged-release-expired",
        "staged-release-changed",
        "staged-files-changed",
        "last-owner",
    ),
    405: ("method-not-allowed",),
    413: (PAYLOAD_TOO_LARGE,),
    415: (UNSUPPORTED_MEDIA_TYPE,),
    429: ("rate-limited",),
    502: ("forward-failed",),
    503: (SERVICE_UNAVAILABLE, "staging-not-configured"),
}
STATUS: Final = {code: status for status, codes in _BY_STATUS.items() for code in codes}
MESSAGES: Final = {
    400: "Invalid request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
    502: "Bad gateway",
    503: "Service unavailable",
}
# Everything else the account layer refuses is about the input: a malformed
# field, a wrong code, a password that fails the rules.
DEFAULT_STATUS = 400
NO_STORE = {"Cache-Control": "no-store"}


def error_response(refusal: Refusal) -> JSONResponse:
    status = STATUS.get(refusal.code, DEFAULT_STATUS)
    headers = dict(NO_STORE)
    if isinstance(refusal, RateLimited):
        status = 429
        headers["Retry-After"] = str(refusal.retry_after)
    elif status == 503:
        headers["Retry-After"] = "5"
    return JSONResponse(
        {
            "message": MESSAGES.get(status, MESSAGES[DEFAULT_STATUS]),
            "errors": [{"code": refusal.code, "description": refusal.description}],
        },
        status_code=status,
        headers=headers,
    )


def reply(data: object, status: int = 200) -> JSONResponse:
    # Answers describe an account and its sessions: no shared cache may keep them.
    return JSONResponse(data, status_code=status, headers=NO_STORE)


def invalid(description: str) -> Refusal:
    return Refusal(INVALID_PAYLOAD, description)


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    # The database is down or not migrated: say so (503, retry), never a bare 500.
    log.error("account store unavailable: %s", type(exc).__name__, exc_info=exc)
    return error_response(
        Refusal(SERVICE_UNAVAILABLE, "the account database is unavailable; try again shortly")
    )


async def secret_unavailable(request: Request, exc: Exception) -> Response:
    # A TOTP seed sealed with another key (MINTGATE_SECRET_KEY_FILE changed or
    # ephemeral across a restart): the app cannot check codes until fixed.
    log.error("cannot decrypt a stored TOTP secret: %s", exc)
    return error_response(
        Refusal(
            SERVICE_UNAVAILABLE,
            "authenticator app codes cannot be checked right now; use a security key or a"
            " recovery code",
        )
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 in our shape (its Allow header kept)."""
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "invalid-request")
    response = error_response(Refusal(code, exc.detail))
    response.status_code = exc.status_code
    response.headers.update(exc.headers or {})
    return response


EXCEPTION_HANDLERS: Final = {UndecryptableSecret: secret_unavailable, HTTPException: http_error}
