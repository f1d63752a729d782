"""The audit trail of my account, or of a project or organization I hold a role in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.accounts.queries import audit_trail
from service.http.api import views
from service.http.api.errors import invalid, reply
from service.http.api.request import authenticate, context
from service.http.api.spec import Endpoint, Query, array, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal


async def audit(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    project = request.query_params.get("project")
    organization = request.query_params.get("organization")
    if project is not None and organization is not None:
        return invalid("name at most one of project or organization")
    for value in (project, organization):
        if value is not None and not 1 <= len(value) <= 200:
            return invalid("project, organization: expected 1-200 characters")
    events = await audit_trail(
        api_state(request).deps, context(request, auth), project=project, organization=organization
    )
    if isinstance(events, Refusal):
        return events
    return reply({"events": [views.audit_event(e) for e in events]})


ENDPOINTS = [
    Endpoint(
        "GET",
        "/audit",
        audit,
        "Security events, oldest first: mine, or a project's or org's",
        {200: obj({"events": array(views.AUDIT_EVENT)})},
        query=[
            Query("project", string(200), "a project I hold a role in"),
            Query("organization", string(200), "an organization I belong to"),
        ],
    ),
]
