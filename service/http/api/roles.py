"""Roles in a project or organization: list them, change one, remove one, leave.

`DELETE .../roles/{my own name}` is leaving. Changing and removing need the
owners' 2FA and a second factor proven in *this* session within the window
(the account layer checks its own user-level proof as well).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import roles
from service.http.api.errors import reply
from service.http.api.request import (
    authenticate,
    authenticate_recent,
    context,
    json_body,
    text,
)
from service.http.api.spec import BOOLEAN, STRING, Endpoint, Schema, array, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal
from service.store.base import ProjectRecord

MEMBER: Schema = obj({"username": STRING, "role": STRING, "two_factor": BOOLEAN})
PLACE: Schema = obj(
    {"name": STRING, "display_name": STRING},
    {"two_factor_required": BOOLEAN, "trusted_publishing_only": BOOLEAN},
)
ROSTER: Schema = obj({"kind": STRING, "place": PLACE, "roles": array(MEMBER)})
CHANGE: Schema = obj(
    {"kind": STRING, "name": STRING, "username": STRING, "old_role": STRING},
    {"role": {"type": ["string", "null"]}},
)


def _where(request: Request, kind: roles.Kind) -> dict[str, str]:
    name: str = request.path_params[kind]
    return {kind: name}


def roster(place: roles.Place) -> dict[str, Any]:
    described: dict[str, Any] = {"name": place.name, "display_name": place.record.name}
    if isinstance(place.record, ProjectRecord):
        described["two_factor_required"] = place.record.two_factor_required
        described["trusted_publishing_only"] = place.record.trusted_publishing_only
    return {
        "kind": place.kind,
        "place": described,
        "roles": [
            {"username": m.username, "role": m.role, "two_factor": m.two_factor_enabled}
            for m in place.members
        ],
    }


def change(done: roles.RoleChange) -> dict[str, Any]:
    return {
        "kind": done.kind,
        "name": done.name,
        "username": done.username,
        "old_role": done.old_role,
        "role": done.new_role,
    }


async def _list(request: Request, kind: roles.Kind) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    found = await roles.list_roles(
        api_state(request).deps, context(request, auth), **_where(request, kind)
    )
    return found if isinstance(found, Refusal) else reply(roster(found))


async def _change(request: Request, kind: roles.Kind) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    role = text(body, "role", max_length=20)
    if isinstance(role, Refusal):
        return role
    username: str = request.path_params["username"]
    done = await roles.change_role(
        api_state(request).deps,
        context(request, auth),
        username,
        role,
        **_where(request, kind),
    )
    return done if isinstance(done, Refusal) else reply(change(done))


async def _remove(request: Request, kind: roles.Kind) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    username: str = request.path_params["username"]
    done = await roles.remove_role(
        api_state(request).deps, context(request, auth), username, **_where(request, kind)
    )
    return done if isinstance(done, Refusal) else reply(change(done))


async def list_project_roles(request: Request) -> Response | Refusal:
    return await _list(request, "project")


async def change_project_role(request: Request) -> Response | Refusal:
    return await _change(request, "project")


async def remove_project_role(request: Request) -> Response | Refusal:
    return await _remove(request, "project")


async def list_organization_roles(request: Request) -> Response | Refusal:
    return await _list(request, "organization")


async def change_organization_role(request: Request) -> Response | Refusal:
    return await _change(request, "organization")


async def remove_organization_role(request: Request) -> Response | Refusal:
    return await _remove(request, "organization")


ROLE_BODY = obj({"role": string(20)})
PROJECT_ROLES = "/projects/{project}/roles"
ORGANIZATION_ROLES = "/organizations/{organization}/roles"

ENDPOINTS = [
    Endpoint(
        "GET",
        PROJECT_ROLES,
        list_project_roles,
        "A project's flags and who holds which role (its members only)",
        {200: ROSTER},
    ),
    Endpoint(
        "PUT",
        PROJECT_ROLES + "/{username}",
        change_project_role,
        "Make a collaborator owner or maintainer (owners, recent 2FA proof; never the last owner)",
        {200: CHANGE},
        body=ROLE_BODY,
    ),
    Endpoint(
        "DELETE",
        PROJECT_ROLES + "/{username}",
        remove_project_role,
        "Remove a collaborator (owners), or leave when it is my own name (recent 2FA proof;"
        " never the last owner)",
        {200: CHANGE},
    ),
    Endpoint(
        "GET",
        ORGANIZATION_ROLES,
        list_organization_roles,
        "Who holds which role in an organization (its members only)",
        {200: ROSTER},
    ),
    Endpoint(
        "PUT",
        ORGANIZATION_ROLES + "/{username}",
        change_organization_role,
        "Make a member owner or member (owners, recent 2FA proof; never the last owner)",
        {200: CHANGE},
        body=ROLE_BODY,
    ),
    Endpoint(
        "DELETE",
        ORGANIZATION_ROLES + "/{username}",
        remove_organization_role,
        "Remove a member (owners), or leave when it is my own name (recent 2FA proof; never"
        " the last owner)",
        {200: CHANGE},
    ),
]
