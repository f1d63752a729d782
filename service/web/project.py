"""A project's page: trusted publishers (last use, the claims they check), a form per
provider, pending publishers that became this project's, the "trusted publishing only"
switch, the project's state and each publisher's freeze and stage-only forms (web/incident.py),
my API tokens for it, and its audit log.

Every read and change is the account layer's call the API makes too
(accounts.publishing, pending, tokens, queries): owners only, 2FA, a fresh proof.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import pending, publishing, queries, tokens
from service.accounts.projects import normalized
from service.accounts.sessions import Authenticated
from service.http.api.request import authenticate, context
from service.publishers.base import ConfigError, Refusal
from service.staging import manage
from service.store.records_publishing import ApiTokenRecord, PublisherRecord
from service.trust import project_state
from service.trust.tables import rebuild
from service.web import incident
from service.web import tokens as web_tokens
from service.web.once import Shown
from service.web.publisher_forms import (
    claim_checks,
    form_values,
    provider_forms,
    table_from_form,
)
from service.web.render import Form, page, redirect, refused, signed_in_form, web

# A refusal of the publisher list that still leaves the rest of the page useful.
SHOWN_REFUSALS: Final = frozenset({"not-an-owner", "two-factor-required"})
DONE: Final = {
    "publisher-added": "Trusted publisher added.",
    "publisher-removed": "Trusted publisher removed.",
    "switch-on": "Trusted publishing only: API tokens are refused for this project now.",
    "switch-off": "Trusted publishing only is off: API tokens may upload again.",
    "token-revoked": "API token revoked.",
    "staging-on": "Staged publishing on: trusted-publishing uploads wait for an approval.",
    "staging-off": "Staged publishing off: trusted-publishing uploads publish at once.",
}


def _name(request: Request) -> str:
    name: str = request.path_params["project"]
    return name


async def _signed_in(request: Request) -> Authenticated | Response:
    auth = await authenticate(request)
    return await refused(request, auth) if isinstance(auth, Refusal) else auth


def _checks(record: PublisherRecord, request: Request) -> list[Any]:
    try:
        return claim_checks(rebuild(record.spec, web(request).api.issuers, record.repository_id))
    except ConfigError:
        return []  # configuration moved on; the exchange skips it too


def publisher_forms_for(request: Request) -> list[Any]:
    return provider_forms(web(request).api.issuers)


def _mine(found: list[ApiTokenRecord], project: str) -> list[ApiTokenRecord]:
    return [t for t in found if t.projects is None or project in t.projects]


async def project_page(
    request: Request, *, created: Shown | str | None = None, status: int = 200
) -> Response:
    auth = await _signed_in(request)
    if isinstance(auth, Response):
        return auth
    api = web(request).api
    ctx = context(request, auth)
    key = normalized(_name(request))
    if isinstance(key, Refusal):
        return await refused(request, key, auth)
    events = await queries.audit_trail(api.deps, ctx, project=key)
    if isinstance(events, Refusal):  # not a member: nothing of the project is shown
        return await refused(request, events, auth)
    listed = await publishing.list_publishers(api.deps, ctx, key)
    if isinstance(listed, Refusal) and listed.code not in SHOWN_REFUSALS:
        return await refused(request, listed, auth)
    owner = not isinstance(listed, Refusal)
    # The list is a sensitive read in /api/v1 too: this session's own proof, not another's.
    stale = web(request).api.sessions.require_recent(auth) if owner else None
    if stale is not None:
        return await refused(request, stale, auth)
    # A member (the audit read above proved it) may see the switch and the state.
    async with api.deps.store.transaction() as tx:
        record = await tx.project_by_name(key)
    switch = owner and record is not None and record.trusted_publishing_only
    shown = [] if isinstance(listed, Refusal) else listed
    revoked = incident.revoked_counts(events)
    staging = await manage.get_staging(api.deps, ctx, key)
    mine = await pending.list_pending_publishers(api.deps, ctx)
    found = await tokens.list_tokens(api.deps, ctx)
    my_tokens = [] if isinstance(found, Refusal) else _mine(found, key)
    my_events = await queries.audit_trail(api.deps, ctx)
    if not isinstance(my_events, Refusal):
        events = web_tokens.with_token_events(events, my_events, (t.id for t in my_tokens))
    data = {
        "project": key,
        "owner": owner,
        "publishers_refusal": listed if isinstance(listed, Refusal) else None,
        "publishers": [(p, _checks(p, request)) for p in shown],
        "revoked": revoked,
        "state": project_state(record.state if record is not None else None),
        "states": incident.STATE_WORDS,
        "pending": []
        if isinstance(mine, Refusal)
        else [p for p in mine if p.normalized_name == key],
        "trusted_publishing_only": switch,
        "staging": None if isinstance(staging, Refusal) else staging,
        "forms": publisher_forms_for(request),
        "tokens": my_tokens,
        "created": created if isinstance(created, Shown) else None,
        "events": list(reversed(events))[:200],  # newest first, bounded
        "notice": DONE.get(request.query_params.get("done", ""))
        or incident.notice(request, shown, revoked),
        "error": created if isinstance(created, str) else None,
        "lifetimes": web_tokens.LIFETIMES,
        "now": api.deps.now(),
    }
    return await page(request, "project.html", data, auth=auth, status=status)


async def show(request: Request) -> Response:
    key = normalized(_name(request))
    if isinstance(key, Refusal):
        return await project_page(request)
    created = web_tokens.waiting(request, key)
    response = await project_page(request, created=created)
    if created is not None and response.status_code == 200:
        # Shown (or found lost) once: a reload of this page no longer has it. Any other
        # answer (a stale proof sends the owner to confirm first) leaves it waiting.
        web(request).once.forget(response, web_tokens.page_path(key))
    return response


async def _owner_form(
    request: Request, *, recent: bool = True
) -> tuple[Authenticated, Form] | Response:
    # Recent by default: only the preview (changes nothing) and revoking (takes
    # power away, as /api/v1 allows) go without this session's own fresh proof.
    return await signed_in_form(request, recent=recent)


def chosen_table(request: Request, fields: Form) -> dict[str, Any] | Refusal:
    provider = fields.get("provider", "")
    chosen = next(
        (f for f in provider_forms(web(request).api.issuers) if f.provider == provider), None
    )
    if chosen is None:
        return Refusal("invalid-publisher-config", f"provider: no form for {provider[:50]!r}")
    return table_from_form(fields, chosen)


async def preview(
    request: Request, fields: Form, auth: Authenticated, action: str, back: str
) -> Response:
    """The exact claims the publisher will check, before it is trusted; `back` is the page
    a Cancel returns to, with nothing added."""
    table = chosen_table(request, fields)
    if isinstance(table, Refusal):
        return await refused(request, table, auth)
    api = web(request).api
    spec = publishing.validated(table, api.issuers)
    if isinstance(spec, Refusal):
        return await refused(request, spec, auth)
    data = {
        "action": action,
        "back": back,
        "project": fields.get("project", ""),
        "spec": spec,
        "checks": claim_checks(rebuild(spec, api.issuers)),
        "hidden": form_values(table),
    }
    return await page(request, "publisher_preview.html", data, auth=auth)


async def publisher_preview(request: Request) -> Response:
    got = await _owner_form(request, recent=False)
    if isinstance(got, Response):
        return got
    auth, fields = got
    action = f"/projects/{_name(request)}/publishers"
    return await preview(request, fields, auth, action, f"/projects/{quote(_name(request))}")


async def add_publisher(request: Request) -> Response:
    got = await _owner_form(request)
    if isinstance(got, Response):
        return got
    auth, fields = got
    table = chosen_table(request, fields)
    if isinstance(table, Refusal):
        return await refused(request, table, auth)
    api = web(request).api
    added = await publishing.add_publisher(
        api.deps, context(request, auth), api.issuers, _name(request), table
    )
    if isinstance(added, Refusal):
        return await refused(request, added, auth)
    return redirect(f"/projects/{added.project}?done=publisher-added")


async def remove_publisher(request: Request) -> Response:
    got = await _owner_form(request)
    if isinstance(got, Response):
        return got
    auth, fields = got
    publisher_id: int = request.path_params["publisher_id"]
    if not 0 < publisher_id < 2**31:
        return await refused(
            request, Refusal(publishing.NO_SUCH_PUBLISHER, "no such publisher"), auth
        )
    if fields.get("confirmed") != incident.CONFIRMED:
        # A page that says what removing stops, first; the same checks, nothing changed.
        found = await incident.publisher_of(request, auth, publisher_id)
        if isinstance(found, Refusal):
            return await refused(request, found, auth)
        data = {"project": found.project, "publisher": found}
        return await page(request, "publisher_remove.html", data, auth=auth)
    removed = await publishing.remove_publisher(
        web(request).api.deps, context(request, auth), _name(request), publisher_id
    )
    if isinstance(removed, Refusal):
        return await refused(request, removed, auth)
    return redirect(f"/projects/{removed.project}?done=publisher-removed")


async def switch(request: Request) -> Response:
    got = await _owner_form(request)
    if isinstance(got, Response):
        return got
    auth, fields = got
    enabled = fields.get("enabled")
    # Required, not defaulted, as in the API: a broken form must not switch it off.
    if enabled not in ("on", "off"):
        return await refused(request, Refusal("invalid-form", "enabled: expected on or off"), auth)
    updated = await publishing.set_trusted_publishing_only(
        web(request).api.deps, context(request, auth), _name(request), enabled == "on"
    )
    if isinstance(updated, Refusal):
        return await refused(request, updated, auth)
    return redirect(f"/projects/{updated.normalized_name}?done=switch-{enabled}")
