"""`/_/oidc/*`: the PyPI-compatible surface. Payload shape only; `exchange` decides."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.errors import refusal_response
from service.exchange import Exchange
from service.publishers.base import INVALID_PAYLOAD, Refusal
from service.textjson import NotText, loads

# A JSON object holding one token of at most 8 KiB; anything much larger is not ours to parse.
MAX_BODY_BYTES = 64 * 1024


async def audience(request: Request) -> Response:
    exchange: Exchange = request.app.state.exchange
    if not exchange.enabled:
        return JSONResponse(
            {"message": "Trusted publishing functionality not enabled"}, status_code=403
        )
    return JSONResponse({"audience": request.app.state.settings.audience})


async def mint_token(request: Request) -> Response:
    payload = await _payload(request)
    if isinstance(payload, Refusal):
        return refusal_response(payload)
    exchange: Exchange = request.app.state.exchange
    result = await exchange.mint(payload)
    if isinstance(result, Refusal):
        return refusal_response(result)
    return JSONResponse({"success": True, "token": result.token, "expires": result.expires})


async def _payload(request: Request) -> str | Refusal:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return Refusal(INVALID_PAYLOAD, f"payload is larger than {MAX_BODY_BYTES} bytes")
    try:
        document = loads(body)
    except NotText as exc:  # every string in the document, not only "token"
        return Refusal(INVALID_PAYLOAD, f"invalid payload: {exc}")
    except (ValueError, RecursionError):
        return Refusal(INVALID_PAYLOAD, "invalid payload: not JSON")
    if not isinstance(document, dict):
        return Refusal(INVALID_PAYLOAD, "invalid payload: expected a JSON object")
    token = document.get("token")
    if not isinstance(token, str):
        return Refusal(INVALID_PAYLOAD, "invalid payload: token is missing or not a string")
    return token


routes = [
    Route("/_/oidc/audience", audience, methods=["GET"]),
    Route("/_/oidc/mint-token", mint_token, methods=["POST"]),
    # Older releases of pypa/gh-action-pypi-publish still call the GitHub-specific path.
    Route("/_/oidc/github/mint-token", mint_token, methods=["POST"]),
]
