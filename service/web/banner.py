"""The "enable 2FA before you can ..." banner: what the 2FA gate holds this user back from.

Asked of the account layer's own gate (projects.authorize), never re-decided here:
the banner says exactly what the API would refuse.
"""

from __future__ import annotations

from starlette.requests import Request

from service.accounts.policy import Action
from service.accounts.projects import authorize
from service.accounts.sessions import Authenticated
from service.http.api.request import context
from service.http.api.state import ApiState
from service.publishers.base import Refusal

# The always-gated actions, as a person would name them.
GATED_WORDS = (
    "create projects, accept invitations, manage trusted publishers or API tokens, or upload"
)


async def banner(api: ApiState, request: Request, auth: Authenticated) -> str | None:
    if auth.user.two_factor_enabled_at is not None:
        return None
    ctx = context(request, auth)
    # An ordinary action: refused only when the operator's policy holds the user at
    # enrolment (a flagged project, or the global date has passed).
    held = await authorize(api.deps, ctx, Action.VIEW_PROJECTS)
    if isinstance(held, Refusal):
        reason = held.description.split(":", 1)[0]
        return f"Enable two-factor authentication before you can do anything else here: {reason}."
    return f"Enable two-factor authentication before you can {GATED_WORDS}."
