"""`/.well-known/*`: the service's public keys and RFC 8414 metadata."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def jwks(request: Request) -> Response:
    return JSONResponse(
        request.app.state.public_jwks,
        headers={"Cache-Control": "public, max-age=300"},
    )


async def authorization_server(request: Request) -> Response:
    url = request.app.state.settings.url
    return JSONResponse(
        {
            "issuer": url,
            "jwks_uri": f"{url}/.well-known/jwks.json",
            "token_endpoint": f"{url}/_/oidc/mint-token",
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


routes = [
    Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server", authorization_server, methods=["GET"]),
]
