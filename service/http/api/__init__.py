"""The JSON API under /api/v1: accounts, sessions, 2FA, projects, invitations, publishing,
API tokens, audit.

One module per area; each lists its `Endpoint`s, from which both the routes
and the OpenAPI document are made.
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from service.http.api import (
    audit,
    confirm,
    incident,
    openapi,
    projects,
    publishing,
    roles,
    session,
    staging,
    tokens,
    two_factor,
)
from service.http.api.errors import EXCEPTION_HANDLERS, storage_unavailable
from service.http.api.spec import Endpoint, routes
from service.http.api.state import ApiState
from service.store.base import StoreError

ENDPOINTS: list[Endpoint] = [
    *session.ENDPOINTS,
    *confirm.ENDPOINTS,
    *two_factor.ENDPOINTS,
    *projects.ENDPOINTS,
    *roles.ENDPOINTS,
    *publishing.ENDPOINTS,
    *incident.ENDPOINTS,
    *tokens.ENDPOINTS,
    *staging.ENDPOINTS,
    *audit.ENDPOINTS,
    openapi.ENDPOINT,
]


def mount(state: ApiState, server: str) -> Mount:
    """A sub-application, so its state and error handlers stay its own."""
    app = Starlette(
        routes=routes(ENDPOINTS),
        exception_handlers={**EXCEPTION_HANDLERS, StoreError: storage_unavailable},
    )
    app.state.api = state
    app.state.openapi = openapi.document(ENDPOINTS, server)
    mounted = Mount(openapi.PREFIX, app=app)
    # Starlette's `{path:path}` stops at a newline, so a %0A in a path parameter
    # (a project name, a token id) would fall out to the outer app's plain-text 404.
    mounted.path_regex = re.compile(mounted.path_regex.pattern, re.DOTALL)
    return mounted


def template_routes() -> list[Route]:
    """The routes with their full paths, for metric labels (which do not look into mounts)."""
    return [Route(openapi.PREFIX + e.path, e.handler, methods=[e.method]) for e in ENDPOINTS]
