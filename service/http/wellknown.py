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
            # The OAuth token endpoint (RFC 8693 exchange); PyPI-style mints stay at
            # /_/oidc/mint-token, which takes JSON and is no OAuth endpoint.
            "token_endpoint": f"{url}/oauth/token",
            "token_endpoint_auth_methods_supported": ["none"],
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "revocation_endpoint": f"{url}/oauth/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
            "introspection_endpoint": f"{url}/oauth/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "response_types_supported": [],
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


routes = [
    Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server", authorization_server, methods=["GET"]),
]
