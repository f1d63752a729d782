"""The project page's incident response (issue 21): freeze or unfreeze a trusted publisher,
make it stage only, change the project's state.

Each form is the account layer's call /api/v1 makes (accounts.incident, project_state):
owners only, 2FA, this session's own recent proof. Freezing and the two restrictive
states first answer with a page that says what will happen; only that page's form
(`confirmed=yes`) acts. The confirmation is for the person, not a security boundary:
the checks are the same on both steps, and the first step changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from service.accounts import incident, project_state, publishing
from service.accounts.publishing import Owned, as_owner
from service.accounts.sessions import Authenticated
from service.http.api.request import context
from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.store.base import AuditRecord
from service.store.records_publishing import PublisherRecord
from service.trust import ProjectState
from service.web.render import INVALID_FORM, Form, page, redirect, refused, signed_in_form, web

CONFIRMED: Final = "yes"
# What each state means, as the owner choosing it should read it.
STATE_WORDS: Final[Mapping[ProjectState, str]] = {
    "active": "Uploads and trusted publishing work as configured.",
    "archived": "Read only: nothing uploads to it, not even with an API token, and no"
    " trusted publisher mints a token for it.",
    "quarantined": "Trusted publishing is suspended: no token is minted for it and tokens"
    " minted before are refused at upload. Maintainers' API tokens still upload, so a fix"
    " can ship while the pipeline is suspect.",
}
NEEDS_CONFIRMING: Final = frozenset({"archived", "quarantined"})
UNFROZEN: Final = (
    "Trusted publisher unfrozen: it may mint tokens again. The tokens revoked when it"
    " was frozen stay revoked."
)
DONE: Final = {
    "publisher-unfrozen": UNFROZEN,
    "stage-only-on": "Stage only: every upload from this publisher waits for a maintainer's"
    " approval.",
    "stage-only-off": "This publisher may publish directly again (as the staging setting allows).",
    **{
        f"state-{state}": f"The project is {state} now. {words}"
        for state, words in STATE_WORDS.items()
    },
}
# The events the second pass of a freeze records for tokens minted while it committed.
LATE_REVOCATIONS: Final = "tokens:revoked-minted"


def _name(request: Request) -> str:
    name: str = request.path_params["project"]
    return name


def _publisher_id(request: Request) -> int | Refusal:
    value: int = request.path_params["publisher_id"]
    # Beyond a 32-bit id the database would fail on the query: answer as unknown.
    if 0 < value < 2**31:
        return value
    return Refusal(publishing.NO_SUCH_PUBLISHER, "no such publisher")


def revoked_counts(events: Iterable[AuditRecord]) -> dict[int, int]:
    """Tokens revoked by each publisher's latest freeze, read from the audit log (oldest
    first), so the page never states a count a crafted link could choose."""
    counts: dict[int, int] = {}
    for event in events:
        publisher_id = event.details.get("publisher_id")
        revoked = event.details.get("revoked")
        if not isinstance(publisher_id, int) or not isinstance(revoked, int):
            continue
        if event.event == "publisher:frozen":
            counts[publisher_id] = revoked
        elif event.event == LATE_REVOCATIONS and publisher_id in counts:
            counts[publisher_id] += revoked
    return counts


def notice(
    request: Request, publishers: Iterable[PublisherRecord], counts: Mapping[int, int]
) -> str | None:
    done = request.query_params.get("done", "")
    if done != "publisher-frozen":
        return DONE.get(done)
    wanted = request.query_params.get("publisher", "")
    frozen = next((p for p in publishers if str(p.id) == wanted and p.frozen_at), None)
    if frozen is None:
        return None  # not frozen (any more): say nothing rather than something untrue
    revoked = counts.get(frozen.id, 0)
    return (
        f"Trusted publisher {frozen.spec.identity} frozen: it mints nothing now, and"
        f" {revoked} unexpired token{'s' if revoked != 1 else ''} it minted"
        f" {'were' if revoked != 1 else 'was'} revoked. Unfreezing lets it mint again;"
        " it does not un-revoke those tokens."
    )


async def _owned(request: Request, auth: Authenticated) -> Owned | Refusal:
    """The owner check of the confirmation steps, which change nothing."""
    async with web(request).api.deps.store.transaction() as tx:
        return await as_owner(tx, web(request).api.deps, context(request, auth), _name(request))


async def publisher_of(
    request: Request, auth: Authenticated, publisher_id: int
) -> PublisherRecord | Refusal:
    owned = await _owned(request, auth)
    if isinstance(owned, Refusal):
        return owned
    async with web(request).api.deps.store.transaction() as tx:
        found = await tx.publisher_by_id(publisher_id)
    # Another project's id is answered as unknown, as accounts.incident does.
    if found is None or found.project != owned.name:
        return Refusal(publishing.NO_SUCH_PUBLISHER, f"project {owned.name} has no such publisher")
    return found


async def _form_for_publisher(
    request: Request,
) -> tuple[Authenticated, Form, int] | Response:
    got = await signed_in_form(request, recent=True)
    if isinstance(got, Response):
        return got
    auth, fields = got
    publisher_id = _publisher_id(request)
    if isinstance(publisher_id, Refusal):
        return await refused(request, publisher_id, auth)
    return auth, fields, publisher_id


def _back(project: str, done: str) -> Response:
    return redirect(f"/projects/{quote(project)}?done={done}")


async def freeze(request: Request) -> Response:
    got = await _form_for_publisher(request)
    if isinstance(got, Response):
        return got
    auth, fields, publisher_id = got
    if fields.get("confirmed") != CONFIRMED:
        found = await publisher_of(request, auth, publisher_id)
        if isinstance(found, Refusal):
            return await refused(request, found, auth)
        data = {"kind": "freeze", "project": found.project, "publisher": found}
        return await page(request, "incident_confirm.html", data, auth=auth)
    api = web(request).api
    if api.revocations is None:
        unavailable = Refusal(SERVICE_UNAVAILABLE, "no revocation store is configured")
        return await refused(request, unavailable, auth)
    frozen = await incident.freeze_publisher(
        api.deps,
        context(request, auth),
        api.revocations,
        _name(request),
        publisher_id,
        unwritten=api.unwritten,
    )
    if isinstance(frozen, Refusal):
        return await refused(request, frozen, auth)
    return _back(frozen.publisher.project, f"publisher-frozen&publisher={frozen.publisher.id}")


async def unfreeze(request: Request) -> Response:
    got = await _form_for_publisher(request)
    if isinstance(got, Response):
        return got
    auth, _, publisher_id = got
    found = await incident.unfreeze_publisher(
        web(request).api.deps, context(request, auth), _name(request), publisher_id
    )
    if isinstance(found, Refusal):
        return await refused(request, found, auth)
    return _back(found.project, "publisher-unfrozen")


async def stage_only(request: Request) -> Response:
    got = await _form_for_publisher(request)
    if isinstance(got, Response):
        return got
    auth, fields, publisher_id = got
    enabled = fields.get("enabled")
    # Required, not defaulted, as in the API: a broken form must not let it publish.
    if enabled not in ("on", "off"):
        return await refused(request, Refusal(INVALID_FORM, "enabled: expected on or off"), auth)
    found = await incident.set_stage_only(
        web(request).api.deps, context(request, auth), _name(request), publisher_id, enabled == "on"
    )
    if isinstance(found, Refusal):
        return await refused(request, found, auth)
    return _back(found.project, f"stage-only-{enabled}")


async def set_state(request: Request) -> Response:
    got = await signed_in_form(request, recent=True)
    if isinstance(got, Response):
        return got
    auth, fields = got
    wanted = project_state.parsed(fields.get("state"))
    if isinstance(wanted, Refusal):
        return await refused(request, wanted, auth)
    if wanted in NEEDS_CONFIRMING and fields.get("confirmed") != CONFIRMED:
        owned = await _owned(request, auth)
        if isinstance(owned, Refusal):
            return await refused(request, owned, auth)
        data = {
            "kind": "state",
            "project": owned.name,
            "state": wanted,
            "words": STATE_WORDS[wanted],
            "was": owned.project.state,
        }
        return await page(request, "incident_confirm.html", data, auth=auth)
    updated = await project_state.set_project_state(
        web(request).api.deps, context(request, auth), _name(request), wanted
    )
    if isinstance(updated, Refusal):
        return await refused(request, updated, auth)
    return _back(updated.normalized_name, f"state-{wanted}")
