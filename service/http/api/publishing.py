"""A project's trusted publishers and its "trusted publishing only" switch; pending publishers.

A publisher arrives as the very table an operator would write in TOML
(`provider`, optional `issuer`, the provider's keys) and is checked by the
same code, so the API cannot trust what the configuration file would refuse.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import pending, publishing
from service.http.api import views
from service.http.api.errors import invalid, reply
from service.http.api.request import (
    authenticate,
    authenticate_recent,
    context,
    json_body,
    path_id,
)
from service.http.api.spec import BOOLEAN, Endpoint, Schema, array, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal


def project_of(request: Request) -> str:
    project: str = request.path_params["project"]
    return project


def publisher_id_of(request: Request) -> int | Refusal:
    """The path's publisher id; an impossible one reads as a publisher the project lacks."""
    missing = Refusal(
        publishing.NO_SUCH_PUBLISHER, f"project {project_of(request)[:200]} has no such publisher"
    )
    return path_id(request, "publisher_id", missing)


async def list_publishers(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    found = await publishing.list_publishers(
        api_state(request).deps, context(request, auth), project_of(request)
    )
    if isinstance(found, Refusal):
        return found
    return reply({"publishers": [views.publisher(p) for p in found]})


async def add_publisher(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    table = await json_body(request)
    if isinstance(table, Refusal):
        return table
    api = api_state(request)
    added = await publishing.add_publisher(
        api.deps, context(request, auth), api.issuers, project_of(request), table
    )
    if isinstance(added, Refusal):
        return added
    return reply(views.publisher(added), 201)


async def remove_publisher(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    publisher_id = publisher_id_of(request)
    if isinstance(publisher_id, Refusal):
        return publisher_id
    removed = await publishing.remove_publisher(
        api_state(request).deps, context(request, auth), project_of(request), publisher_id
    )
    if isinstance(removed, Refusal):
        return removed
    return reply(views.publisher(removed))


async def trusted_publishing_only(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    enabled = body.get("enabled")
    # Required, not defaulted: a typo must not switch the protection off.
    if not isinstance(enabled, bool):
        return invalid("enabled: expected true or false")
    updated = await publishing.set_trusted_publishing_only(
        api_state(request).deps, context(request, auth), project_of(request), enabled
    )
    if isinstance(updated, Refusal):
        return updated
    return reply(views.trusted_publishing_only(updated))


async def list_pending(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    found = await pending.list_pending_publishers(api_state(request).deps, context(request, auth))
    if isinstance(found, Refusal):
        return found
    return reply({"pending_publishers": [views.pending_publisher(p) for p in found]})


async def add_pending(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    project, table = body.get("project"), body.get("publisher")
    if not isinstance(project, str) or not 1 <= len(project) <= 200:
        return invalid("project: expected a string of 1-200 characters")
    if not isinstance(table, dict):
        return invalid("publisher: expected the publisher table as a JSON object")
    api = api_state(request)
    added = await pending.add_pending_publisher(
        api.deps, context(request, auth), api.issuers, project, table
    )
    if isinstance(added, Refusal):
        return added
    return reply(views.pending_publisher(added), 201)


# The TOML table: the provider's own keys beside these two (so more properties are allowed).
PUBLISHER_TABLE: Schema = obj({"provider": string(50)}, {"issuer": string(500)})
PUBLISHERS = "/projects/{project}/publishers"

ENDPOINTS = [
    Endpoint(
        "GET",
        PUBLISHERS,
        list_publishers,
        "A project's trusted publishers (owners, recent 2FA proof)",
        {200: obj({"publishers": array(views.PUBLISHER)})},
    ),
    Endpoint(
        "POST",
        PUBLISHERS,
        add_publisher,
        "Trust a publisher, given as its TOML table (owners, recent 2FA proof)",
        {201: views.PUBLISHER},
        body=PUBLISHER_TABLE,
    ),
    Endpoint(
        "DELETE",
        PUBLISHERS + "/{publisher_id:int}",
        remove_publisher,
        "Stop trusting a publisher (owners, recent 2FA proof)",
        {200: views.PUBLISHER},
    ),
    Endpoint(
        "PUT",
        "/projects/{project}/trusted-publishing-only",
        trusted_publishing_only,
        "Refuse API tokens for the project: only trusted publishing uploads (owners)",
        {200: views.TRUSTED_PUBLISHING_ONLY},
        body=obj({"enabled": BOOLEAN}),
    ),
    Endpoint(
        "GET",
        "/pending-publishers",
        list_pending,
        "My pending publishers, reified, expired and invalidated ones included",
        {200: obj({"pending_publishers": array(views.PENDING_PUBLISHER)})},
    ),
    Endpoint(
        "POST",
        "/pending-publishers",
        add_pending,
        "Trust a publisher for a project not yet created; its first upload creates it",
        {201: views.PENDING_PUBLISHER},
        body=obj({"project": string(200), "publisher": PUBLISHER_TABLE}),
    ),
]
