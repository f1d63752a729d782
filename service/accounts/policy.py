"""The 2FA gate: who may do what without a second factor. Pure: a `now` is passed in.

Three rules, as data a reader can scan:
- GATED actions need a confirmed second factor, always (PyPI's promise: only
  people with 2FA can change a project).
- OPEN actions (enrolment, declining an invitation) are always allowed, so a
  user can fix their own state and shed roles they never wanted.
- Everything else is open to users without 2FA unless the operator's policy
  holds them at enrolment: they maintain a project flagged "2FA required",
  or the global date has passed and they maintain any project or belong to
  any organisation.
Sensitive actions also need a fresh second-factor proof (RECENT_WINDOW).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from service.accounts.core import Enforcement
from service.publishers.base import Refusal
from service.store.records import Exposure, UserRecord

TWO_FACTOR_REQUIRED: Final = "two-factor-required"
RECENT_TWO_FACTOR_REQUIRED: Final = "recent-two-factor-required"

RECENT_WINDOW = timedelta(minutes=15)

HOW_TO_ENROL = (
    "add an authenticator app (TOTP) or a security key (WebAuthn) in your account's"
    " two-factor settings, then try again"
)


class Action(StrEnum):
    ENROL = "enrol-two-factor"
    CREATE_PROJECT = "create-project"
    CREATE_ORGANIZATION = "create-organization"
    ACCEPT_INVITATION = "accept-invitation"
    MANAGE_ROLES = "manage-roles"  # invite a collaborator
    CHANGE_ROLES = "change-roles"  # change a collaborator's role, or remove them
    MANAGE_PUBLISHERS = "manage-publishers"
    MANAGE_TOKENS = "manage-tokens"
    UPLOAD = "upload"
    VIEW_PROJECTS = "view-projects"
    DECLINE_INVITATION = "decline-invitation"
    LEAVE = "leave"  # give up one's own role in a project or organisation


GATED: Final = frozenset(
    {
        Action.CREATE_PROJECT,
        Action.CREATE_ORGANIZATION,
        Action.ACCEPT_INVITATION,
        Action.MANAGE_ROLES,
        Action.CHANGE_ROLES,
        Action.MANAGE_PUBLISHERS,
        Action.MANAGE_TOKENS,
        Action.UPLOAD,
    }
)
# Shedding a role is open too (a user held at enrolment may still walk away);
# roles.py asks a user who has 2FA for a fresh proof before they leave.
OPEN: Final = frozenset({Action.ENROL, Action.DECLINE_INVITATION, Action.LEAVE})
# Changing what can publish, who can, or removing a way in: a stolen session
# alone must not be enough, so these need a second factor proven just now.
# Inviting is one of them: an invitation, as maintainer or owner, hands its
# invitee the right to upload, the easiest takeover for a stolen session.
SENSITIVE: Final = frozenset(
    {Action.MANAGE_PUBLISHERS, Action.MANAGE_TOKENS, Action.MANAGE_ROLES, Action.CHANGE_ROLES}
)


def held_at_enrolment(
    user: UserRecord, exposure: Exposure, enforcement: Enforcement, now: datetime
) -> str | None:
    """Why the operator's policy holds this user at enrolment, or None."""
    if user.two_factor_enabled_at is not None:
        return None
    if exposure.flagged_projects:
        return f"project {exposure.flagged_projects[0]} requires two-factor authentication"
    due = enforcement.required_from
    if due is not None and now.date() >= due and exposure.any:
        return (
            "every project and organization maintainer needs two-factor authentication"
            f" since {due.isoformat()}"
        )
    return None


def gate(
    user: UserRecord,
    action: Action,
    now: datetime,
    exposure: Exposure,
    enforcement: Enforcement,
) -> Refusal | None:
    if action in OPEN:
        return None
    if action in GATED and user.two_factor_enabled_at is None:
        return Refusal(
            TWO_FACTOR_REQUIRED,
            f"{action.value} needs two-factor authentication: {HOW_TO_ENROL}",
        )
    held = held_at_enrolment(user, exposure, enforcement, now)
    if held is not None:
        return Refusal(TWO_FACTOR_REQUIRED, f"{held}: {HOW_TO_ENROL}")
    if action in SENSITIVE:
        return require_recent_two_factor(user, now)
    return None


def require_recent_two_factor(user: UserRecord, now: datetime) -> Refusal | None:
    """None when the user proved a second factor within RECENT_WINDOW of `now`."""
    if user.two_factor_enabled_at is None:
        return Refusal(TWO_FACTOR_REQUIRED, f"this needs two-factor authentication: {HOW_TO_ENROL}")
    last = user.last_two_factor_at
    if last is None or now - last > RECENT_WINDOW:
        return Refusal(
            RECENT_TWO_FACTOR_REQUIRED,
            "confirm with your authenticator app, security key or a recovery code first:"
            f" this action needs a confirmation within the last {RECENT_WINDOW.seconds // 60}"
            " minutes",
        )
    return None
