"""The JSON API under /api/v1: accounts, sessions, 2FA, projects, invitations, audit.

One module per area; each lists its `Endpoint`s, from which both the routes
and the OpenAPI document are made.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from service.http.api import audit, confirm, openapi, projects, session, two_factor
from service.http.api.errors import EXCEPTION_HANDLERS, storage_unavailable
from service.http.api.spec import Endpoint, routes
from service.http.api.state import ApiState
from service.store.base import StoreError

ENDPOINTS: list[Endpoint] = [
    *session.ENDPOINTS,
    *confirm.ENDPOINTS,
    *two_factor.ENDPOINTS,
    *projects.ENDPOINTS,
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
    return Mount(openapi.PREFIX, app=app)


def template_routes() -> list[Route]:
    """The routes with their full paths, for metric labels (which do not look into mounts)."""
    return [Route(openapi.PREFIX + e.path, e.handler, methods=[e.method]) for e in ENDPOINTS]
