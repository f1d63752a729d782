"""Projects and organisations: creation, the operator's 2FA flag, the gate for other rooms.

A project's name is unique after PEP 503 normalisation, so "Foo_Bar" and
"foo.bar" are one project; organisations follow the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from service.accounts.core import Context, Deps, acting_user, audit
from service.accounts.policy import Action, gate
from service.publishers.base import Refusal
from service.store.base import (
    Membership,
    NameTaken,
    OrganizationRecord,
    ProjectRecord,
    Transaction,
    UserRecord,
)
from service.store.records import Exposure
from service.trust import normalize_project

INVALID_NAME: Final = "invalid-name"
NAME_TAKEN: Final = "name-taken"
NO_SUCH_PROJECT: Final = "no-such-project"
NOT_A_MAINTAINER: Final = "not-a-maintainer"


def normalized(name: str) -> str | Refusal:
    try:
        if len(name) > 200:
            raise ValueError("name: at most 200 characters")
        return normalize_project(name)
    except ValueError:
        return Refusal(
            INVALID_NAME,
            f"name: expected letters, digits, '.', '_' or '-', starting and ending with a letter"
            f" or digit, got {name[:50]!r}",
        )


async def admitted(
    tx: Transaction, deps: Deps, ctx: Context, action: Action, now: datetime
) -> tuple[UserRecord, Exposure] | Refusal:
    """The acting user and what they maintain, once the 2FA gate lets `action` through."""
    user = await acting_user(tx, ctx)
    if isinstance(user, Refusal):
        return user
    exposure = await tx.exposure(user.id)
    refused = gate(user, action, now, exposure, deps.enforcement)
    return (user, exposure) if refused is None else refused


async def authorize(
    deps: Deps, ctx: Context, action: Action, project: str | None = None
) -> UserRecord | Refusal:
    """For other rooms (publishers, tokens, upload): may the acting user do this now?

    With a project named, the user must also hold a role in it.
    """
    now = deps.now()
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, action, now)
    if isinstance(admission, Refusal):
        return admission
    user, exposure = admission
    if project is not None:
        name = normalized(project)
        if isinstance(name, Refusal):
            return name
        if name not in exposure.projects:
            return Refusal(NOT_A_MAINTAINER, f"you are not a maintainer of project {name}")
    return user


async def create_project(deps: Deps, ctx: Context, name: str) -> ProjectRecord | Refusal:
    key = normalized(name)
    if isinstance(key, Refusal):
        return key
    now = deps.now()
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.CREATE_PROJECT, now)
        if isinstance(admission, Refusal):
            return admission
        user = admission[0]
        try:
            project = await tx.add_project(name, key, now)
        except NameTaken:
            return Refusal(NAME_TAKEN, f"name: project {key!r} exists")
        await tx.add_project_role(project.id, user.id, "owner", now)
        await audit(tx, deps, ctx, "project:created", subject=user.id, project=key)
        await audit(tx, deps, ctx, "role:added", subject=user.id, project=key, role="owner")
        # The name is taken now: pending publishers others registered for it must not
        # reify into this project (their exchange gets invalid-pending-publisher).
        voided = await tx.invalidate_pending_publishers(key, now)
        if voided:
            await audit(tx, deps, ctx, "pending-publisher:invalidated", project=key, count=voided)
    return project


async def create_organization(deps: Deps, ctx: Context, name: str) -> OrganizationRecord | Refusal:
    key = normalized(name)
    if isinstance(key, Refusal):
        return key
    now = deps.now()
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.CREATE_ORGANIZATION, now)
        if isinstance(admission, Refusal):
            return admission
        user = admission[0]
        try:
            org = await tx.add_organization(name, key, now)
        except NameTaken:
            return Refusal(NAME_TAKEN, f"name: organization {key!r} exists")
        await tx.add_organization_role(org.id, user.id, "owner", now)
        await audit(tx, deps, ctx, "organization:created", subject=user.id, organization=key)
        await audit(tx, deps, ctx, "role:added", subject=user.id, organization=key, role="owner")
    return org


async def set_two_factor_required(
    deps: Deps, ctx: Context, project: str, required: bool
) -> ProjectRecord | Refusal:
    """The operator's flag for critical projects (an operator action, audited)."""
    key = normalized(project)
    if isinstance(key, Refusal):
        return key
    async with deps.store.transaction() as tx:
        found = await tx.project_by_name(key)
        if found is None:
            return Refusal(NO_SUCH_PROJECT, f"no project {key!r}")
        await tx.set_project_two_factor_required(found.id, required)
        await audit(
            tx, deps, ctx, "operator:project-two-factor-required", project=key, required=required
        )
        updated = await tx.project_by_name(key)
    assert updated is not None
    return updated


@dataclass(frozen=True, slots=True)
class Unprotected:
    """One project's (or organisation's) members who have no second factor."""

    kind: str  # "project" or "organization"
    name: str
    two_factor_required: bool
    members: tuple[tuple[str, str], ...]  # (username, role)


def _lacking(members: list[Membership]) -> tuple[tuple[str, str], ...]:
    return tuple((m.username, m.role) for m in members if not m.two_factor_enabled)


async def without_two_factor(deps: Deps) -> list[Unprotected]:
    """`mintgate report no-2fa`: every project, then every organisation, with owners,
    maintainers or members still lacking 2FA."""
    report: list[Unprotected] = []
    async with deps.store.transaction() as tx:
        for project in await tx.projects():
            lacking = _lacking(await tx.project_members(project.id))
            if lacking:
                report.append(
                    Unprotected("project", project.name, project.two_factor_required, lacking)
                )
        for org in await tx.organizations():
            lacking = _lacking(await tx.organization_members(org.id))
            if lacking:
                report.append(Unprotected("organization", org.name, False, lacking))
    return report
