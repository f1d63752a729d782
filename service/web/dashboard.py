"""The signed-in home: my projects, a form to create one, my pending publishers."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import pending, projects, queries
from service.http.api.request import authenticate, context
from service.publishers.base import Refusal
from service.web.project import chosen_table, preview, publisher_forms_for
from service.web.render import form, page, redirect, refused, signed_in_form, web

DONE: Final = {
    "pending-added": "Pending publisher registered: its first upload creates the project."
}


async def home(request: Request) -> Response:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    api = web(request).api
    ctx = context(request, auth)
    roles = await queries.my_projects(api.deps, ctx)
    mine = await pending.list_pending_publishers(api.deps, ctx)
    data = {
        "roles": [] if isinstance(roles, Refusal) else roles,
        "pending": [] if isinstance(mine, Refusal) else mine,
        "forms": publisher_forms_for(request),
        "notice": DONE.get(request.query_params.get("done", "")),
    }
    return await page(request, "home.html", data, auth=auth)


async def create_project(request: Request) -> Response:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    name = fields.get("name", "").strip()[:200]
    created = await projects.create_project(web(request).api.deps, context(request, auth), name)
    if isinstance(created, Refusal):
        return await refused(request, created, auth)
    return redirect(f"/projects/{created.normalized_name}")


async def pending_preview(request: Request) -> Response:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    fields = await form(request)
    if isinstance(fields, Refusal):
        return await refused(request, fields, auth)
    return await preview(request, fields, auth, "/pending-publishers", "/")


async def add_pending(request: Request) -> Response:
    got = await signed_in_form(request, recent=True)
    if isinstance(got, Response):
        return got
    auth, fields = got
    table = chosen_table(request, fields)
    if isinstance(table, Refusal):
        return await refused(request, table, auth)
    api = web(request).api
    added = await pending.add_pending_publisher(
        api.deps, context(request, auth), api.issuers, fields.get("project", "")[:200], table
    )
    if isinstance(added, Refusal):
        return await refused(request, added, auth)
    return redirect("/?done=pending-added")
