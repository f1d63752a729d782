"""`POST /_/secret-scanning/github`: GitHub's secret-scanning partner callback.

Size and headers in, labels out; `scanning.partner` verifies and decides.
Answers are `no-store`: they describe credentials.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.scanning.partner import INVALID_SIGNATURE, GitHubPartner

# Room for the most matches we take (1000) of our largest tokens; a bigger body is refused
# before it is held whole in memory, and before any signature work.
MAX_BODY_BYTES = 2 * 1024 * 1024
PAYLOAD_TOO_LARGE = "payload-too-large"
STATUS = {INVALID_SIGNATURE: 401, PAYLOAD_TOO_LARGE: 413, SERVICE_UNAVAILABLE: 503}
NO_STORE = {"Cache-Control": "no-store"}


async def github(request: Request) -> Response:
    partner: GitHubPartner | None = request.app.state.secret_scanning
    if partner is None:
        return JSONResponse({"message": "secret scanning is not enabled"}, status_code=404)
    body = await _body(request)
    if isinstance(body, Refusal):
        return refused(body)
    headers = request.headers
    result = await partner.report(
        body,
        headers.get("github-public-key-identifier"),
        headers.get("github-public-key-signature"),
    )
    if isinstance(result, Refusal):
        return refused(result)
    return JSONResponse([label.as_json() for label in result], headers=NO_STORE)


async def _body(request: Request) -> bytes | Refusal:
    too_large = Refusal(PAYLOAD_TOO_LARGE, f"body is larger than {MAX_BODY_BYTES} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        return too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return too_large
    return bytes(body)


def refused(refusal: Refusal) -> JSONResponse:
    status = STATUS.get(refusal.code, 400)
    headers = dict(NO_STORE)
    if status == 503:
        headers["Retry-After"] = "30"
    return JSONResponse(
        {"errors": [{"code": refusal.code, "description": refusal.description}]},
        status_code=status,
        headers=headers,
    )


routes = [Route("/_/secret-scanning/github", github, methods=["POST"])]
