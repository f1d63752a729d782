"""My API tokens: create (the token answered once), list (metadata only), revoke."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import tokens
from service.apitokens.issue import MAX_LIFETIME
from service.http.api import views
from service.http.api.errors import invalid, reply
from service.http.api.request import (
    Body,
    authenticate,
    authenticate_recent,
    context,
    json_body,
    text,
)
from service.http.api.spec import STRING, Endpoint, array, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal

DEFAULT_LIFETIME: Final = 90 * 86400
MAX_PROJECTS: Final = 100


def _projects(body: Body) -> list[str] | Refusal | None:
    value = body.get("projects")
    if value is None:
        return None  # every project I maintain, at each upload
    if (
        not isinstance(value, list)
        or not 0 < len(value) <= MAX_PROJECTS
        or not all(isinstance(p, str) and 0 < len(p) <= 200 for p in value)
    ):
        return invalid(f"projects: expected a list of 1-{MAX_PROJECTS} project names, or null")
    return value


def _lifetime(body: Body) -> int | Refusal:
    value = body.get("expires_in", DEFAULT_LIFETIME)
    # bool is an int to Python; `true` is not a lifetime.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LIFETIME:
        return invalid(f"expires_in: expected seconds, 1 to {MAX_LIFETIME}")
    return value


async def create(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    name = text(body, "name", max_length=tokens.MAX_NAME)
    if isinstance(name, Refusal):
        return name
    projects = _projects(body)
    if isinstance(projects, Refusal):
        return projects
    lifetime = _lifetime(body)
    if isinstance(lifetime, Refusal):
        return lifetime
    api = api_state(request)
    created = await tokens.create_token(
        api.deps, context(request, auth), api.root_key, name, projects, lifetime
    )
    if isinstance(created, Refusal):
        return created
    return reply({"token": created.token, "api_token": views.api_token(created.record)}, 201)


async def list_tokens(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    found = await tokens.list_tokens(api_state(request).deps, context(request, auth))
    if isinstance(found, Refusal):
        return found
    return reply({"api_tokens": [views.api_token(t) for t in found]})


async def revoke(request: Request) -> Response | Refusal:
    """No fresh proof asked: whoever lost their second factor must still shut a leaked token."""
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    token_id: str = request.path_params["token_id"]
    revoked = await tokens.revoke_token(api_state(request).deps, context(request, auth), token_id)
    if isinstance(revoked, Refusal):
        return revoked
    return reply(views.api_token(revoked))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/tokens",
        create,
        "Create an API token (2FA, recent proof); the token is in this answer only",
        {201: obj({"token": STRING, "api_token": views.API_TOKEN})},
        body=obj(
            {"name": string(tokens.MAX_NAME)},
            {
                "projects": {
                    "type": ["array", "null"],
                    "items": string(200),
                    "minItems": 1,
                    "maxItems": MAX_PROJECTS,
                },
                "expires_in": {"type": "integer", "minimum": 1, "maximum": MAX_LIFETIME},
            },
        ),
    ),
    Endpoint(
        "GET",
        "/tokens",
        list_tokens,
        "My API tokens, revoked ones included; never the tokens themselves",
        {200: obj({"api_tokens": array(views.API_TOKEN)})},
    ),
    Endpoint(
        "DELETE",
        "/tokens/{token_id}",
        revoke,
        "Revoke one of my API tokens (no recent proof needed)",
        {200: views.API_TOKEN},
    ),
]
