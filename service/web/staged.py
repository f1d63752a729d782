"""Staged releases: those waiting in my projects, one in full, approve or reject it; and a
project's staging setting.

The link twine prints after a staged upload (`/web/staged/{id}`) lands here. Approving
publishes, so the form carries its own second factor: an authenticator code made for
this approval and spent by it, through the very Approvals object /api/v1 calls, with
the digest of the files this page showed (files changed since -> refused). A proof
made earlier in the session does not count for it.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from service.accounts.sessions import Authenticated
from service.http.api.request import authenticate, client_ip, context
from service.publishers.base import Refusal
from service.staging import manage, review
from service.staging.approve import Approvals
from service.staging.proof import TotpProof
from service.staging.rules import NO_SUCH_STAGED_RELEASE
from service.staging.wiring import approvals
from service.web.render import page, redirect, refused, signed_in_form, status_of, web

# The token's claims a reviewer checks against what they expect to have released
# (an API-token upload has none of them: the page says whose token it was instead).
PROVENANCE: Final = (
    ("repository", "Repository"),
    ("workflow_ref", "Workflow"),
    ("ref", "Ref"),
    ("sha", "Commit"),
    ("run_id", "Run id"),
    ("environment", "Environment"),
)
DONE: Final = {
    "approved": "Approved: every file was sent to the registry.",
    "rejected": "Rejected: nothing was published and the files were deleted.",
}
MAX_CODE = 16
MAX_REASON = 500


def _approvals(request: Request) -> Approvals:
    api = web(request).api
    # As /api/v1: without staging settings, listing and rejecting work; approving says why not.
    return api.staging or approvals(None, api.accounts, None, api.rp)


def configured(found: Approvals) -> bool:
    return found.area is not None and found.forwarder is not None


def _release_id(request: Request) -> int | Refusal:
    value: int = request.path_params["release_id"]
    if 0 < value < 2**31:
        return value
    return Refusal(NO_SUCH_STAGED_RELEASE, "no such staged release in your projects")


async def index(request: Request) -> Response:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    decided = request.query_params.get("decided") == "true"
    found = await review.list_staged(web(request).api.deps, context(request, auth), decided=decided)
    if isinstance(found, Refusal):
        return await refused(request, found, auth)
    data = {"releases": found, "decided": decided, "configured": configured(_approvals(request))}
    return await page(request, "staged_list.html", data, auth=auth)


async def release_page(
    request: Request,
    auth: Authenticated,
    release_id: int,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    found = await review.show_staged(web(request).api.deps, context(request, auth), release_id)
    if isinstance(found, Refusal):  # not a maintainer: the same answer as no such release
        return await refused(request, found, auth)
    data = {
        "release": found,
        "provenance": PROVENANCE,
        "configured": configured(_approvals(request)),
        "notice": DONE.get(request.query_params.get("done", "")),
        "now": web(request).api.deps.now(),
    }
    return await page(request, "staged.html", data, auth=auth, status=status, error=error)


async def show(request: Request) -> Response:
    auth = await authenticate(request)
    if isinstance(auth, Refusal):
        return await refused(request, auth)
    release_id = _release_id(request)
    if isinstance(release_id, Refusal):
        return await refused(request, release_id, auth)
    return await release_page(request, auth, release_id)


async def approve(request: Request) -> Response:
    # Not the session's recent proof: the code in this form is the proof, made for it.
    got = await signed_in_form(request, recent=False)
    if isinstance(got, Response):
        return got
    auth, fields = got
    release_id = _release_id(request)
    if isinstance(release_id, Refusal):
        return await refused(request, release_id, auth)
    digest = fields.get("digest", "")
    code = fields.get("code", "").strip()
    if not digest or len(digest) > 64 or not code or len(code) > MAX_CODE:
        bad = Refusal("invalid-form", "code: the authenticator app's code; digest: as shown")
        return await release_page(request, auth, release_id, status=400, error=bad.description)
    api = web(request).api
    # The same per-address and per-account budget as every other second-factor attempt.
    limited = await api.attempts.check("two-factor", client_ip(request), str(auth.user.id))
    if limited is not None:
        return await refused(request, limited, auth)
    approved = await _approvals(request).approve(
        context(request, auth), release_id, digest, TotpProof(code)
    )
    if isinstance(approved, Refusal):
        error = f"{approved.code}: {approved.description}"
        return await release_page(
            request, auth, release_id, status=status_of(approved), error=error
        )
    return redirect(f"/staged/{approved.id}?done=approved")


async def reject(request: Request) -> Response:
    # Stopping a release takes power away, as revoking a token does: no fresh proof needed.
    got = await signed_in_form(request, recent=False)
    if isinstance(got, Response):
        return got
    auth, fields = got
    release_id = _release_id(request)
    if isinstance(release_id, Refusal):
        return await refused(request, release_id, auth)
    reason = fields.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        error = f"reason: at most {MAX_REASON} characters"
        return await release_page(request, auth, release_id, status=400, error=error)
    rejected = await review.reject_staged(
        web(request).api.deps, _approvals(request).area, context(request, auth), release_id, reason
    )
    if isinstance(rejected, Refusal):
        error = f"{rejected.code}: {rejected.description}"
        return await release_page(
            request, auth, release_id, status=status_of(rejected), error=error
        )
    return redirect(f"/staged/{rejected.id}?done=rejected")


async def set_staging(request: Request) -> Response:
    """The project page's staging form: owners, with this session's own recent proof."""
    got = await signed_in_form(request, recent=True)
    if isinstance(got, Response):
        return got
    auth, fields = got
    enabled = fields.get("enabled")
    # Required, not defaulted, as in the API: a broken form must not switch it off.
    if enabled not in ("on", "off"):
        return await refused(request, Refusal("invalid-form", "enabled: expected on or off"), auth)
    # Absent (an older page) means on, as in the API: only an explicit "off" turns it off.
    stage_tokens = fields.get("stage_api_tokens", "on")
    if stage_tokens not in ("on", "off"):
        error = Refusal("invalid-form", "stage_api_tokens: expected on or off")
        return await refused(request, error, auth)
    project: str = request.path_params["project"]
    deps, ctx = web(request).api.deps, context(request, auth)
    current = await manage.get_staging(deps, ctx, project)
    if isinstance(current, Refusal):
        return await refused(request, current, auth)
    updated = await manage.set_staging(
        deps,
        ctx,
        project,
        enabled=enabled == "on",
        new_versions_only=fields.get("new_versions_only") == "on",
        # The pages do not edit the publisher list (/api/v1 does): keep it as it is.
        publishers=list(current.publishers),
        stage_api_tokens=stage_tokens == "on",
    )
    if isinstance(updated, Refusal):
        return await refused(request, updated, auth)
    return redirect(f"/projects/{updated.project}?done=staging-{enabled}")
