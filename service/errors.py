"""Refusal values -> HTTP responses, in one place, in PyPI's wire format."""

from __future__ import annotations

from starlette.responses import JSONResponse

from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.ratelimit import RateLimited

TOKEN_REQUEST_FAILED = "Token request failed"


def refusal_response(refusal: Refusal) -> JSONResponse:
    status = 503 if refusal.code == SERVICE_UNAVAILABLE else 422
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(refusal, RateLimited):
        status, headers = 429, {"Retry-After": str(refusal.retry_after)}
    return JSONResponse(
        {
            "message": TOKEN_REQUEST_FAILED,
            "errors": [{"code": refusal.code, "description": refusal.description}],
        },
        status_code=status,
        headers=headers,
    )
