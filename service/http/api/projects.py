"""Projects, organizations and invitations: create (2FA), list mine, invite, accept, decline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import invitations, projects, queries
from service.accounts.core import Context, Deps
from service.http.api import views
from service.http.api.errors import reply
from service.http.api.request import (
    authenticate,
    authenticate_recent,
    context,
    json_body,
    path_id,
    text,
)
from service.http.api.spec import Endpoint, array, obj, string
from service.http.api.state import api_state
from service.publishers.base import Refusal
from service.store.base import OrganizationRecord, ProjectRecord

NAME = string(200)


async def _name(request: Request) -> str | Refusal:
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    return text(body, "name", max_length=200)


async def _create(
    request: Request,
    create: Callable[[Deps, Context, str], Awaitable[ProjectRecord | OrganizationRecord | Refusal]],
) -> Response | Refusal:
    """A project or an organization: the creator becomes its owner."""
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    name = await _name(request)
    if isinstance(name, Refusal):
        return name
    created = await create(api_state(request).deps, context(request, auth), name)
    if isinstance(created, Refusal):
        return created
    return reply(views.role(queries.Role(created.normalized_name, "owner")), 201)


async def _roles(
    request: Request,
    key: str,
    mine: Callable[[Deps, Context], Awaitable[list[queries.Role] | Refusal]],
) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    found = await mine(api_state(request).deps, context(request, auth))
    if isinstance(found, Refusal):
        return found
    return reply({key: [views.role(r) for r in found]})


async def create_project(request: Request) -> Response | Refusal:
    return await _create(request, projects.create_project)


async def list_projects(request: Request) -> Response | Refusal:
    return await _roles(request, "projects", queries.my_projects)


async def create_organization(request: Request) -> Response | Refusal:
    return await _create(request, projects.create_organization)


async def list_organizations(request: Request) -> Response | Refusal:
    return await _roles(request, "organizations", queries.my_organizations)


async def invite(request: Request) -> Response | Refusal:
    auth = await authenticate_recent(request)
    if isinstance(auth, Refusal):
        return auth
    body = await json_body(request)
    if isinstance(body, Refusal):
        return body
    username = text(body, "username", max_length=50)
    if isinstance(username, Refusal):
        return username
    role = text(body, "role", max_length=20)
    if isinstance(role, Refusal):
        return role
    project = text(body, "project", max_length=200, required=False)
    if isinstance(project, Refusal):
        return project
    organization = text(body, "organization", max_length=200, required=False)
    if isinstance(organization, Refusal):
        return organization
    if bool(project) == bool(organization):
        return Refusal("invalid-payload", "name exactly one of project or organization")
    created = await invitations.invite(
        api_state(request).deps,
        context(request, auth),
        username,
        role,
        project=project or None,
        organization=organization or None,
    )
    if isinstance(created, Refusal):
        return created
    return reply(views.invitation(created), 201)


async def list_invitations(request: Request) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    found = await queries.my_invitations(api_state(request).deps, context(request, auth))
    if isinstance(found, Refusal):
        return found
    return reply({"invitations": [views.invitation(i) for i in found]})


async def _resolve(request: Request, *, accept: bool) -> Response | Refusal:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return auth
    missing = Refusal(invitations.NO_SUCH_INVITATION, "no such invitation for you")
    invitation_id = path_id(request, "invitation_id", missing)
    if isinstance(invitation_id, Refusal):
        return invitation_id
    resolve = invitations.accept if accept else invitations.decline
    done = await resolve(api_state(request).deps, context(request, auth), invitation_id)
    if isinstance(done, Refusal):
        return done
    return reply(views.invitation(done))


async def accept(request: Request) -> Response | Refusal:
    return await _resolve(request, accept=True)


async def decline(request: Request) -> Response | Refusal:
    return await _resolve(request, accept=False)


ROLES = {"projects": array(views.ROLE)}

ENDPOINTS = [
    Endpoint(
        "POST",
        "/projects",
        create_project,
        "Create a project (needs 2FA); I become its owner",
        {201: views.ROLE},
        body=obj({"name": NAME}),
    ),
    Endpoint("GET", "/projects", list_projects, "Projects I hold a role in", {200: obj(ROLES)}),
    Endpoint(
        "POST",
        "/organizations",
        create_organization,
        "Create an organization (needs 2FA)",
        {201: views.ROLE},
        body=obj({"name": NAME}),
    ),
    Endpoint(
        "GET",
        "/organizations",
        list_organizations,
        "Organizations I belong to",
        {200: obj({"organizations": array(views.ROLE)})},
    ),
    Endpoint(
        "POST",
        "/invitations",
        invite,
        "Invite a user to a project or organization I own (needs 2FA)",
        {201: views.INVITATION},
        body=obj(
            {"username": string(50), "role": string(20)},
            {"project": NAME, "organization": NAME},
        ),
    ),
    Endpoint(
        "GET",
        "/invitations",
        list_invitations,
        "Invitations waiting for me",
        {200: obj({"invitations": array(views.INVITATION)})},
    ),
    Endpoint(
        "POST",
        "/invitations/{invitation_id:int}/accept",
        accept,
        "Accept an invitation (needs 2FA)",
        {200: views.INVITATION},
    ),
    Endpoint(
        "POST",
        "/invitations/{invitation_id:int}/decline",
        decline,
        "Decline an invitation",
        {200: views.INVITATION},
    ),
]
