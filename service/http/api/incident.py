"""Incident response (issue 21): freeze or unfreeze a publisher, stage-only, project state.

Owners, with a recent second-factor proof of this very session (authenticate_recent),
as every other change to what may publish a project.
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import incident, project_state
from service.accounts.incident import Window
from service.http.api import views
from service.http.api.errors import invalid, reply
from service.http.api.publishing import project_of, publisher_id_of
from service.http.api.request import Body, authenticate_recent, context, json_body
from service.http.api.spec import BOOLEAN, INTEGER, Endpoint, obj, string
from service.http.api.state import api_state
from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.trust import PROJECT_STATES

PUBLISHER = "/projects/{project}/publishers/{publisher_id:int}"
MAX_TIME = 64


def _time(body: Body, name: str) -> datetime | Refusal | None:
    value = body.get(name)
    if value is None:
        return None
    problem = invalid(f"{name}: expected an ISO 8601 time with a zone, e.g. 2027-01-15T10:00:00Z")
    if not isinstance(value, str) or len(value) > MAX_TIME:
        return problem
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return problem
    # A zoneless time names a different instant on every machine that reads it.
    return problem if when.tzinfo is None else when


def window(body: Body) -> Window | Refusal:
    unknown = set(body) - {"since", "until"}
    if unknown:
        return invalid(f"{sorted(unknown)[0][:50]}: unknown field (expected since, until)")
    since, until = _time(body, "since"), _time(body, "until")
    if isinstance(since, Refusal):
        return since
    if isinstance(until, Refusal):
        return until
    return Window(since, until)


async def freeze(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    publisher_id = publisher_id_of(request)
    if isinstance(publisher_id, Refusal):
        return publisher_id
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    span = window(body)
    if isinstance(span, Refusal):
        return span
    api = api_state(request)
    if api.revocations is None:
        return Refusal(SERVICE_UNAVAILABLE, "no revocation store is configured")
    frozen = await incident.freeze_publisher(
        api.deps,
        context(request, auth),
        api.revocations,
        project_of(request),
        publisher_id,
        span,
        unwritten=api.unwritten,
    )
    if isinstance(frozen, Refusal):
        return frozen
    return reply({"publisher": views.publisher(frozen.publisher), "revoked": frozen.revoked})


async def unfreeze(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    publisher_id = publisher_id_of(request)
    if isinstance(publisher_id, Refusal):
        return publisher_id
    found = await incident.unfreeze_publisher(
        api_state(request).deps, context(request, auth), project_of(request), publisher_id
    )
    if isinstance(found, Refusal):
        return found
    return reply(views.publisher(found))


async def stage_only(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    publisher_id = publisher_id_of(request)
    if isinstance(publisher_id, Refusal):
        return publisher_id
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    enabled = body.get("enabled")
    # Required, not defaulted: a typo must not let a publisher publish.
    if not isinstance(enabled, bool):
        return invalid("enabled: expected true or false")
    found = await incident.set_stage_only(
        api_state(request).deps, context(request, auth), project_of(request), publisher_id, enabled
    )
    if isinstance(found, Refusal):
        return found
    return reply(views.publisher(found))


async def set_state(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    updated = await project_state.set_project_state(
        api_state(request).deps, context(request, auth), project_of(request), body.get("state")
    )
    if isinstance(updated, Refusal):
        return updated
    return reply(views.project_state(updated))


TIME_FIELD = string(MAX_TIME)
ENDPOINTS = [
    Endpoint(
        "POST",
        PUBLISHER + "/freeze",
        freeze,
        "Freeze a publisher: it mints nothing, and the unexpired tokens it minted (issued"
        " between since and until when given) are revoked (owners, recent 2FA proof)",
        {200: obj({"publisher": views.PUBLISHER, "revoked": INTEGER})},
        body=obj({}, {"since": TIME_FIELD, "until": TIME_FIELD}),
    ),
    Endpoint(
        "POST",
        PUBLISHER + "/unfreeze",
        unfreeze,
        "Unfreeze a publisher; tokens revoked by the freeze stay revoked (owners, recent 2FA)",
        {200: views.PUBLISHER},
    ),
    Endpoint(
        "PUT",
        PUBLISHER + "/stage-only",
        stage_only,
        "May stage, may not publish: its uploads always wait for approval (owners, recent 2FA)",
        {200: views.PUBLISHER},
        body=obj({"enabled": BOOLEAN}),
    ),
    Endpoint(
        "PUT",
        "/projects/{project}/state",
        set_state,
        f"Set the project's state, one of {', '.join(PROJECT_STATES)} (owners, recent 2FA)",
        {200: views.PROJECT_STATE},
        body=obj({"state": string(16)}),
    ),
]
