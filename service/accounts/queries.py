"""Read-only views of an account for its owner: 2FA methods, roles, invitations, audit.

Each is one transaction that changes nothing. The audit views check
membership first: a project's trail is for the people who hold a role in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from service.accounts.core import Context, Deps, acting_user
from service.accounts.projects import NOT_A_MAINTAINER, normalized
from service.publishers.base import Refusal
from service.store.base import AuditRecord, InvitationRecord, SecurityKeyRecord

NOT_A_MEMBER: Final = "not-a-member"


@dataclass(frozen=True, slots=True)
class TwoFactorSummary:
    enabled: bool
    totp: bool
    security_keys: tuple[SecurityKeyRecord, ...]
    recovery_codes_remaining: int

    @property
    def methods(self) -> list[str]:
        kinds = ["totp"] if self.totp else []
        return kinds + (["security-key"] if self.security_keys else [])


@dataclass(frozen=True, slots=True)
class Role:
    name: str  # normalised project or organisation name
    role: str


async def two_factor_summary(deps: Deps, user_id: int) -> TwoFactorSummary:
    async with deps.store.transaction() as tx:
        user = await tx.user_by_id(user_id)
        totp = await tx.totp_for(user_id)
        keys = await tx.security_keys(user_id)
        remaining = await tx.unused_recovery_codes(user_id)
    return TwoFactorSummary(
        enabled=user is not None and user.two_factor_enabled_at is not None,
        totp=totp is not None and totp.confirmed_at is not None,
        security_keys=tuple(keys),
        recovery_codes_remaining=remaining,
    )


async def my_projects(deps: Deps, ctx: Context) -> list[Role] | Refusal:
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        roles = []
        for name in (await tx.exposure(user.id)).projects:
            project = await tx.project_by_name(name)
            if project is None:
                continue
            for member in await tx.project_members(project.id):
                if member.user_id == user.id:
                    roles.append(Role(name, member.role))
    return roles


async def my_organizations(deps: Deps, ctx: Context) -> list[Role] | Refusal:
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        roles = []
        for name in (await tx.exposure(user.id)).organizations:
            org = await tx.organization_by_name(name)
            if org is None:
                continue
            for member in await tx.organization_members(org.id):
                if member.user_id == user.id:
                    roles.append(Role(name, member.role))
    return roles


async def my_invitations(deps: Deps, ctx: Context) -> list[InvitationRecord] | Refusal:
    """Pending and unexpired only: an expired one can be neither accepted nor shown as live."""
    now = deps.now()
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        found = await tx.invitations_for(user.id)
    return [i for i in found if i.expires_at > now]


async def audit_trail(
    deps: Deps, ctx: Context, *, project: str | None = None, organization: str | None = None
) -> list[AuditRecord] | Refusal:
    """My account's events, or a project's or organisation's I hold a role in."""
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        if project is None and organization is None:
            return await tx.audit_events(user_id=user.id)
        key = normalized(project or organization or "")
        if isinstance(key, Refusal):
            return key
        exposure = await tx.exposure(user.id)
        if project is not None:
            if key not in exposure.projects:
                return Refusal(NOT_A_MAINTAINER, f"you are not a maintainer of project {key}")
            return await tx.audit_events(project=key)
        if key not in exposure.organizations:
            return Refusal(NOT_A_MEMBER, f"you are not a member of organization {key}")
        return await tx.audit_events(organization=key)
