"""Roles after the invitation: list them, change one, remove a collaborator, leave.

Owners change and remove roles (2FA and a fresh proof: policy.SENSITIVE,
because making a stranger an owner, or removing the real ones, is what a
stolen session would do). Anyone may leave, but a user with 2FA proves it
afresh first. A project or organisation never loses its last owner. Each
change is audited and the user it touches is told; API tokens of a removed
maintainer stop working for the project at their next use (they are checked
against the roles then), and invitations a demoted or removed owner sent to
the place are voided with the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from service.accounts.core import Context, Deps, audit
from service.accounts.invitations import (
    INVALID_ROLE,
    NO_SUCH_PLACE,
    NOT_AN_OWNER,
    ORGANIZATION_ROLES,
    PROJECT_ROLES,
)
from service.accounts.notify import Notice
from service.accounts.policy import Action, require_recent_two_factor
from service.accounts.projects import admitted, normalized
from service.accounts.queries import NOT_A_MEMBER
from service.publishers.base import Refusal
from service.store.base import (
    Membership,
    OrganizationRecord,
    ProjectRecord,
    Transaction,
    UserRecord,
)

LAST_OWNER: Final = "last-owner"
NO_SUCH_ROLE: Final = "no-such-role"

Kind = Literal["project", "organization"]


@dataclass(frozen=True, slots=True)
class Place:
    """A project or organisation as stored now, with its members."""

    kind: Kind
    record: ProjectRecord | OrganizationRecord
    members: tuple[Membership, ...]

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def name(self) -> str:  # normalised
        return self.record.normalized_name

    @property
    def roles(self) -> tuple[str, ...]:
        return PROJECT_ROLES if self.kind == "project" else ORGANIZATION_ROLES

    @property
    def owners(self) -> tuple[Membership, ...]:
        return tuple(m for m in self.members if m.role == "owner")

    def member(self, username: str) -> Membership | None:
        wanted = username.casefold()
        return next((m for m in self.members if m.username.casefold() == wanted), None)

    def where(self) -> dict[str, str]:
        return {self.kind: self.name}


@dataclass(frozen=True, slots=True)
class RoleChange:
    kind: Kind
    name: str
    username: str
    old_role: str
    new_role: str | None  # None: the role is gone


def _kind(project: str | None, organization: str | None) -> tuple[Kind, str]:
    if (project is None) == (organization is None):
        raise ValueError("name exactly one of project or organization")
    return ("project", project) if project is not None else ("organization", organization or "")


async def _place(tx: Transaction, kind: Kind, key: str, *, lock: bool) -> Place | None:
    if kind == "project":
        project = await tx.project_by_name(key)
        if project is None:
            return None
        if lock:
            await tx.lock_project(project.id)
        return Place(kind, project, tuple(await tx.project_members(project.id)))
    org = await tx.organization_by_name(key)
    if org is None:
        return None
    if lock:
        await tx.lock_organization(org.id)
    return Place(kind, org, tuple(await tx.organization_members(org.id)))


def _no_place(kind: Kind, key: str) -> Refusal:
    return Refusal(NO_SUCH_PLACE, f"no {kind} {key!r}")


def _last_owner(place: Place, username: str) -> Refusal:
    return Refusal(
        LAST_OWNER,
        f"{username} is the last owner of {place.kind} {place.name}: make another member an"
        " owner first",
    )


async def list_roles(
    deps: Deps, ctx: Context, *, project: str | None = None, organization: str | None = None
) -> Place | Refusal:
    """Who holds which role; for the place's own members only."""
    kind, name = _kind(project, organization)
    key = normalized(name)
    if isinstance(key, Refusal):
        return key
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.VIEW_PROJECTS, deps.now())
        if isinstance(admission, Refusal):
            return admission
        place = await _place(tx, kind, key, lock=False)
        if place is None:
            return _no_place(kind, key)
        if place.member(admission[0].username) is None:
            return Refusal(NOT_A_MEMBER, f"you hold no role in {kind} {key}")
    return place


async def _as_owner(
    tx: Transaction, deps: Deps, ctx: Context, kind: Kind, key: str
) -> tuple[UserRecord, Place] | Refusal:
    admission = await admitted(tx, deps, ctx, Action.CHANGE_ROLES, deps.now())
    if isinstance(admission, Refusal):
        return admission
    user = admission[0]
    place = await _place(tx, kind, key, lock=True)
    if place is None:
        return _no_place(kind, key)
    acting = place.member(user.username)
    if acting is None or acting.role != "owner":
        return Refusal(NOT_AN_OWNER, f"only an owner of {kind} {key} can change its roles")
    return user, place


async def change_role(
    deps: Deps,
    ctx: Context,
    username: str,
    role: str,
    *,
    project: str | None = None,
    organization: str | None = None,
) -> RoleChange | Refusal:
    kind, name = _kind(project, organization)
    allowed = PROJECT_ROLES if kind == "project" else ORGANIZATION_ROLES
    if role not in allowed:
        return Refusal(INVALID_ROLE, f"role: expected one of {', '.join(allowed)}, got {role!r}")
    key = normalized(name)
    if isinstance(key, Refusal):
        return key
    async with deps.store.transaction() as tx:
        owned = await _as_owner(tx, deps, ctx, kind, key)
        if isinstance(owned, Refusal):
            return owned
        place = owned[1]
        target = place.member(username)
        if target is None:
            return Refusal(NO_SUCH_ROLE, f"{username[:50]!r} holds no role in {kind} {key}")
        change = RoleChange(kind, key, target.username, target.role, role)
        if target.role == role:
            return change  # nothing to do, nothing to tell
        if target.role == "owner" and len(place.owners) == 1:
            return _last_owner(place, target.username)
        if kind == "project":
            await tx.set_project_role(place.id, target.user_id, role)
        else:
            await tx.set_organization_role(place.id, target.user_id, role)
        voided = await _void_invitations(tx, place, target) if target.role == "owner" else 0
        await audit(
            tx,
            deps,
            ctx,
            "role:changed",
            subject=target.user_id,
            old_role=target.role,
            role=role,
            invitations_voided=voided,
            **place.where(),
        )
        told = await tx.user_by_id(target.user_id)
    if told is not None:
        detail = f"{kind} {key}: {target.role} -> {role}"
        await deps.notify(Notice(told.email, told.username, "role-changed", detail))
    return change


async def remove_role(
    deps: Deps,
    ctx: Context,
    username: str,
    *,
    project: str | None = None,
    organization: str | None = None,
) -> RoleChange | Refusal:
    """An owner removes a collaborator; naming oneself is leaving (no ownership needed)."""
    kind, name = _kind(project, organization)
    key = normalized(name)
    if isinstance(key, Refusal):
        return key
    now = deps.now()
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.LEAVE, now)
        if isinstance(admission, Refusal):
            return admission
        leaving = admission[0].username.casefold() == username.casefold()
        if leaving:
            user = admission[0]
            # Open to a user without 2FA (held at enrolment, they may still walk
            # away); one with 2FA proves it afresh, as for any other role change.
            if user.two_factor_enabled_at is not None:
                stale = require_recent_two_factor(user, now)
                if stale is not None:
                    return stale
            place = await _place(tx, kind, key, lock=True)
            if place is None:
                return _no_place(kind, key)
        else:
            owned = await _as_owner(tx, deps, ctx, kind, key)
            if isinstance(owned, Refusal):
                return owned
            place = owned[1]
        target = place.member(username)
        if target is None:
            if leaving:
                return Refusal(NOT_A_MEMBER, f"you hold no role in {kind} {key}")
            return Refusal(NO_SUCH_ROLE, f"{username[:50]!r} holds no role in {kind} {key}")
        if target.role == "owner" and len(place.owners) == 1:
            return _last_owner(place, target.username)
        if kind == "project":
            await tx.delete_project_role(place.id, target.user_id)
        else:
            await tx.delete_organization_role(place.id, target.user_id)
        voided = await _void_invitations(tx, place, target)
        event = "role:left" if leaving else "role:removed"
        await audit(
            tx,
            deps,
            ctx,
            event,
            subject=target.user_id,
            role=target.role,
            invitations_voided=voided,
            **place.where(),
        )
        notices = await _removal_notices(tx, place, target, leaving)
    await deps.notify(*notices)
    return RoleChange(kind, key, target.username, target.role, None)


async def _void_invitations(tx: Transaction, place: Place, sender: Membership) -> int:
    """A former owner's pending invitations must not outlive their right to invite."""
    return await tx.delete_invitations_from(
        sender.user_id,
        project_id=place.id if place.kind == "project" else None,
        organization_id=place.id if place.kind == "organization" else None,
    )


async def _removal_notices(
    tx: Transaction, place: Place, target: Membership, leaving: bool
) -> list[Notice]:
    detail = f"{place.kind} {place.name}: {target.role}"
    notices = []
    gone = await tx.user_by_id(target.user_id)
    if gone is not None:
        notices.append(
            Notice(gone.email, gone.username, "role-left" if leaving else "role-removed", detail)
        )
    if leaving:  # the owners learn that someone walked away
        for owner in place.owners:
            if owner.user_id != target.user_id:
                found = await tx.user_by_id(owner.user_id)
                if found is not None:
                    notices.append(
                        Notice(
                            found.email,
                            found.username,
                            "member-left",
                            f"{target.username}, {detail}",
                        )
                    )
    return notices
