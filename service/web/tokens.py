"""API tokens on the project page: create one (shown once, after a redirect), revoke one
(after a confirmation page).

Creating answers with a redirect, never with the page itself: a reload of that
page would post the form again and make a second token. The token reaches the
page it redirects to through once.py, never through the URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import tokens
from service.accounts.projects import normalized
from service.http.api.request import context
from service.publishers.base import Refusal
from service.store.base import AuditRecord
from service.web.incident import CONFIRMED
from service.web.once import Shown
from service.web.render import PREFIX, page, redirect, refused, signed_in_form, web

DAY: Final = 86400
LIFETIMES: Final = {"1": DAY, "30": 30 * DAY, "90": 90 * DAY, "365": 365 * DAY}
LOST: Final = (
    "An API token was made, but this page could not show it (it waited too long, or another"
    " server process answered without MINTGATE_SECRET_KEY_FILE). Revoke it below and make"
    " another."
)


def page_path(project: str) -> str:
    """The project page's own path, the one cookie path the token is carried to."""
    return f"{PREFIX}/projects/{quote(project)}"


def _project(request: Request) -> str:
    name: str = request.path_params["project"]
    key = normalized(name)
    return name if isinstance(key, Refusal) else key


def waiting(request: Request, project: str) -> Shown | str | None:
    """The token made for this page a moment ago: the token, a sentence saying it was
    lost, or None when nothing waits."""
    state = web(request)
    if not state.once.waiting(request):
        return None
    found = state.once.take(
        request, page_path(project), state.session_cookie(request), state.api.deps.now()
    )
    return LOST if found is None else found


async def create_token(request: Request) -> Response:
    got = await signed_in_form(request, recent=True)
    if isinstance(got, Response):
        return got
    auth, fields = got
    lifetime = LIFETIMES.get(fields.get("expires_days", ""))
    if lifetime is None:
        return await refused(
            request, Refusal("invalid-form", "expires_days: pick a lifetime"), auth
        )
    scope = fields.get("scope")
    if scope not in ("project", "all"):
        return await refused(request, Refusal("invalid-form", "scope: project or all"), auth)
    api = web(request).api
    name = fields.get("name", "").strip()
    project = _project(request)
    created = await tokens.create_token(
        api.deps,
        context(request, auth),
        api.root_key,
        name,
        [project] if scope == "project" else None,
        lifetime,
    )
    if isinstance(created, Refusal):
        return await refused(request, created, auth)
    # The fragment scrolls the browser to the token; it carries no secret.
    response = redirect(f"/projects/{quote(project)}?done=token-created#created-token")
    state = web(request)
    state.once.put(
        response,
        page_path(project),
        state.session_cookie(request),
        Shown(created.record.name, created.token),
        api.deps.now(),
    )
    return response


async def revoke_token(request: Request) -> Response:
    # No fresh proof needed: shutting a leaked token must stay easy, as /api/v1 allows.
    got = await signed_in_form(request, recent=False)
    if isinstance(got, Response):
        return got
    auth, fields = got
    token_id: str = request.path_params["token_id"]
    api = web(request).api
    project = _project(request)
    if fields.get("confirmed") != CONFIRMED:
        mine = await tokens.list_tokens(api.deps, context(request, auth))
        found = (
            None if isinstance(mine, Refusal) else next((t for t in mine if t.id == token_id), None)
        )
        if found is None:
            missing = Refusal(tokens.NO_SUCH_TOKEN, f"no API token {token_id[:40]!r}")
            return await refused(request, missing, auth)
        data = {"project": project, "token": found}
        return await page(request, "token_revoke.html", data, auth=auth)
    revoked = await tokens.revoke_token(api.deps, context(request, auth), token_id)
    if isinstance(revoked, Refusal):
        return await refused(request, revoked, auth)
    return redirect(f"/projects/{quote(project)}?done=token-revoked")


# Recorded against the user, not a project, by accounts.tokens (a token may cover all
# of a user's projects): the project's own log would never show them.
TOKEN_EVENTS: Final = frozenset({"token:created", "token:revoked"})


def with_token_events(
    project_events: Sequence[AuditRecord], mine: Sequence[AuditRecord], listed: Iterable[str]
) -> list[AuditRecord]:
    """The project's events, oldest first, with my own token events for the tokens the page
    lists for this project (so a token made here shows in its log; others see only theirs)."""
    ids = set(listed)
    seen = {e.id for e in project_events}
    extra = [
        e
        for e in mine
        if e.event in TOKEN_EVENTS and e.details.get("token_id") in ids and e.id not in seen
    ]
    return sorted([*project_events, *extra], key=lambda e: e.id)
