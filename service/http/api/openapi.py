"""The OpenAPI 3.1 document of /api/v1, built from the same Endpoint list as the routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.http.api.spec import STRING, Endpoint, Schema, array, obj

PREFIX = "/api/v1"

ERROR: Schema = obj(
    {
        "message": STRING,
        "errors": array(obj({"code": STRING, "description": STRING})),
    }
)


def document(endpoints: Sequence[Endpoint], server: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Schema]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = endpoint.operation()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mintgate account API",
            "version": "1",
            "description": (
                "Accounts with mandatory two-factor authentication. Sign in with POST /login;"
                " a user with 2FA then proves a second factor at /session/confirm/*. Send the"
                " session as the HttpOnly cookie (same-origin requests only) or as"
                ' Authorization: Bearer (ask for it with "bearer": true at login).'
            ),
        },
        "servers": [{"url": f"{server}{PREFIX}"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "__Host-mintgate-session"},
            },
        },
    }


async def serve(request: Request) -> Response:
    spec: dict[str, Any] = request.app.state.openapi
    return JSONResponse(spec)


ENDPOINT = Endpoint(
    "GET", "/openapi.json", serve, "This document", {200: {"type": "object"}}, signed_in=False
)
