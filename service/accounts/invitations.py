"""Invitations to a project or an organisation: by username, no token to leak.

An owner invites; the invitee accepts (which needs 2FA, as any new role
does) or declines. An invitation lives seven days. Resolved invitations are
deleted; the audit trail keeps their story.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from service.accounts.core import Context, Deps, audit
from service.accounts.policy import Action
from service.accounts.projects import admitted, normalized
from service.publishers.base import Refusal
from service.store.base import Duplicate, InvitationRecord, Membership, Transaction

INVITATION_TTL = timedelta(days=7)

NO_SUCH_INVITATION: Final = "no-such-invitation"
INVITATION_EXPIRED: Final = "invitation-expired"
INVITATION_PENDING: Final = "invitation-pending"
ALREADY_A_MEMBER: Final = "already-a-member"
NOT_AN_OWNER: Final = "not-an-owner"
NO_SUCH_USER: Final = "no-such-user"
NO_SUCH_PLACE: Final = "no-such-project-or-organization"
INVALID_ROLE: Final = "invalid-role"

PROJECT_ROLES = ("owner", "maintainer")
ORGANIZATION_ROLES = ("owner", "member")


async def invite(
    deps: Deps,
    ctx: Context,
    username: str,
    role: str,
    *,
    project: str | None = None,
    organization: str | None = None,
) -> InvitationRecord | Refusal:
    if (project is None) == (organization is None):
        raise ValueError("name exactly one of project or organization")
    allowed = PROJECT_ROLES if project is not None else ORGANIZATION_ROLES
    if role not in allowed:
        return Refusal(INVALID_ROLE, f"role: expected one of {', '.join(allowed)}, got {role!r}")
    key = normalized(project or organization or "")
    if isinstance(key, Refusal):
        return key
    now = deps.now()
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.MANAGE_ROLES, now)
        if isinstance(admission, Refusal):
            return admission
        inviter = admission[0]
        place = await _place(tx, project is not None, key)
        if place is None:
            return Refusal(NO_SUCH_PLACE, f"no {'project' if project else 'organization'} {key!r}")
        place_id, members = place
        roles = {m.username.lower(): m.role for m in members}
        if roles.get(inviter.username.lower()) != "owner":
            return Refusal(NOT_AN_OWNER, f"only an owner of {key} can invite")
        invitee = await tx.user_by_name(username)
        if invitee is None:
            return Refusal(NO_SUCH_USER, f"no user {username!r}")
        if invitee.username.lower() in roles:
            return Refusal(ALREADY_A_MEMBER, f"{invitee.username} already has a role in {key}")
        try:
            invitation = await tx.add_invitation(
                invitee_user_id=invitee.id,
                inviter_user_id=inviter.id,
                role=role,
                project_id=place_id if project is not None else None,
                organization_id=place_id if organization is not None else None,
                now=now,
                expires_at=now + INVITATION_TTL,
            )
        except Duplicate:
            return Refusal(
                INVITATION_PENDING, f"{invitee.username} already has a pending invitation to {key}"
            )
        await audit(
            tx, deps, ctx, "invitation:created", subject=invitee.id, role=role, **_where(invitation)
        )
    return invitation


async def _place(
    tx: Transaction, is_project: bool, key: str
) -> tuple[int, list[Membership]] | None:
    if is_project:
        found = await tx.project_by_name(key)
        return None if found is None else (found.id, await tx.project_members(found.id))
    org = await tx.organization_by_name(key)
    return None if org is None else (org.id, await tx.organization_members(org.id))


def _where(invitation: InvitationRecord) -> dict[str, str]:
    if invitation.project is not None:
        return {"project": invitation.project.normalized_name}
    assert invitation.organization is not None
    return {"organization": invitation.organization.normalized_name}


async def accept(deps: Deps, ctx: Context, invitation_id: int) -> InvitationRecord | Refusal:
    return await _resolve(deps, ctx, invitation_id, accept=True)


async def decline(deps: Deps, ctx: Context, invitation_id: int) -> InvitationRecord | Refusal:
    return await _resolve(deps, ctx, invitation_id, accept=False)


async def _resolve(
    deps: Deps, ctx: Context, invitation_id: int, *, accept: bool
) -> InvitationRecord | Refusal:
    now = deps.now()
    async with deps.store.transaction() as tx:
        action = Action.ACCEPT_INVITATION if accept else Action.DECLINE_INVITATION
        admission = await admitted(tx, deps, ctx, action, now)
        if isinstance(admission, Refusal):
            return admission
        user = admission[0]
        invitation = await tx.invitation_by_id(invitation_id)
        # Someone else's invitation is answered as if there were none.
        if invitation is None or invitation.invitee_user_id != user.id:
            return Refusal(NO_SUCH_INVITATION, f"no invitation {invitation_id} for you")
        where = _where(invitation)
        # The DELETE settles a double click or an accept racing a decline.
        if not await tx.delete_invitation(invitation.id):
            return Refusal(NO_SUCH_INVITATION, f"no invitation {invitation_id} for you")
        if invitation.expires_at <= now:
            await audit(tx, deps, ctx, "invitation:expired", subject=user.id, **where)
            return Refusal(
                INVITATION_EXPIRED,
                f"the invitation to {invitation.target} expired; ask an owner to invite you again",
            )
        if not accept:
            await audit(tx, deps, ctx, "invitation:declined", subject=user.id, **where)
            return invitation
        if invitation.project is not None:
            await tx.add_project_role(invitation.project.id, user.id, invitation.role, now)
        elif invitation.organization is not None:
            await tx.add_organization_role(
                invitation.organization.id, user.id, invitation.role, now
            )
        await audit(tx, deps, ctx, "invitation:accepted", subject=user.id, **where)
        await audit(tx, deps, ctx, "role:added", subject=user.id, role=invitation.role, **where)
    return invitation
