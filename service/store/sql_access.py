"""Projects, organisations, roles and invitations over SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from service.store.base import Duplicate, NameTaken
from service.store.models import User
from service.store.models_access import (
    Invitation,
    Organization,
    OrganizationMember,
    Project,
    ProjectRole,
)
from service.store.records import (
    Exposure,
    InvitationRecord,
    Membership,
    OrganizationRecord,
    ProjectRecord,
)
from service.store.sql_common import Steps, rowcount


def _project(row: Project) -> ProjectRecord:
    return ProjectRecord(
        id=row.id,
        name=row.name,
        normalized_name=row.normalized_name,
        created_at=row.created_at,
        two_factor_required=row.two_factor_required,
        trusted_publishing_only=row.trusted_publishing_only,
        state=row.state or "active",
    )


def _organization(row: Organization) -> OrganizationRecord:
    return OrganizationRecord(
        id=row.id, name=row.name, normalized_name=row.normalized_name, created_at=row.created_at
    )


class ProjectSql(Steps):
    async def add_project(self, name: str, normalized: str, now: datetime) -> ProjectRecord:
        row = Project(
            name=name,
            normalized_name=normalized,
            created_at=now,
            two_factor_required=False,
            trusted_publishing_only=False,
            state="active",
        )
        await self.insert(row, NameTaken(f"project {normalized!r} exists"))
        return _project(row)

    async def project_by_name(self, normalized: str) -> ProjectRecord | None:
        row = await self.session.scalar(
            select(Project)
            .where(Project.normalized_name == normalized)
            .execution_options(populate_existing=True)
        )
        return None if row is None else _project(row)

    async def projects(self) -> list[ProjectRecord]:
        rows = await self.session.scalars(select(Project).order_by(Project.normalized_name))
        return [_project(r) for r in rows]

    async def set_project_two_factor_required(self, project_id: int, required: bool) -> None:
        await self.session.execute(
            update(Project).where(Project.id == project_id).values(two_factor_required=required)
        )

    async def add_project_role(
        self, project_id: int, user_id: int, role: str, now: datetime
    ) -> None:
        await self.insert(
            ProjectRole(project_id=project_id, user_id=user_id, role=role, created_at=now),
            Duplicate("the user already has a role in this project"),
        )

    async def project_members(self, project_id: int) -> list[Membership]:
        rows = await self.session.execute(
            select(User.id, User.username, ProjectRole.role, User.two_factor_enabled_at)
            .join(ProjectRole, ProjectRole.user_id == User.id)
            .where(ProjectRole.project_id == project_id)
            .order_by(User.username)
        )
        return [Membership(uid, name, role, at is not None) for uid, name, role, at in rows]

    async def lock_project(self, project_id: int) -> None:
        # Two owners demoting each other at once must not both read "another owner
        # remains": on PostgreSQL the second waits here until the first commits.
        # (SQLite's BEGIN IMMEDIATE already runs writers one at a time.)
        await self.session.execute(
            select(Project.id).where(Project.id == project_id).with_for_update()
        )

    async def set_project_role(self, project_id: int, user_id: int, role: str) -> bool:
        result = await self.session.execute(
            update(ProjectRole)
            .where(ProjectRole.project_id == project_id, ProjectRole.user_id == user_id)
            .values(role=role)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def delete_project_role(self, project_id: int, user_id: int) -> bool:
        result = await self.session.execute(
            delete(ProjectRole)
            .where(ProjectRole.project_id == project_id, ProjectRole.user_id == user_id)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1


class OrganizationSql(Steps):
    async def add_organization(
        self, name: str, normalized: str, now: datetime
    ) -> OrganizationRecord:
        row = Organization(name=name, normalized_name=normalized, created_at=now)
        await self.insert(row, NameTaken(f"organization {normalized!r} exists"))
        return _organization(row)

    async def organization_by_name(self, normalized: str) -> OrganizationRecord | None:
        row = await self.session.scalar(
            select(Organization).where(Organization.normalized_name == normalized)
        )
        return None if row is None else _organization(row)

    async def add_organization_role(
        self, organization_id: int, user_id: int, role: str, now: datetime
    ) -> None:
        await self.insert(
            OrganizationMember(
                organization_id=organization_id, user_id=user_id, role=role, created_at=now
            ),
            Duplicate("the user is already in this organization"),
        )

    async def organization_members(self, organization_id: int) -> list[Membership]:
        rows = await self.session.execute(
            select(User.id, User.username, OrganizationMember.role, User.two_factor_enabled_at)
            .join(OrganizationMember, OrganizationMember.user_id == User.id)
            .where(OrganizationMember.organization_id == organization_id)
            .order_by(User.username)
        )
        return [Membership(uid, name, role, at is not None) for uid, name, role, at in rows]

    async def organizations(self) -> list[OrganizationRecord]:
        rows = await self.session.scalars(
            select(Organization).order_by(Organization.normalized_name)
        )
        return [_organization(r) for r in rows]

    async def lock_organization(self, organization_id: int) -> None:
        await self.session.execute(
            select(Organization.id).where(Organization.id == organization_id).with_for_update()
        )

    async def set_organization_role(self, organization_id: int, user_id: int, role: str) -> bool:
        result = await self.session.execute(
            update(OrganizationMember)
            .where(
                OrganizationMember.organization_id == organization_id,
                OrganizationMember.user_id == user_id,
            )
            .values(role=role)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def delete_organization_role(self, organization_id: int, user_id: int) -> bool:
        result = await self.session.execute(
            delete(OrganizationMember)
            .where(
                OrganizationMember.organization_id == organization_id,
                OrganizationMember.user_id == user_id,
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def exposure(self, user_id: int) -> Exposure:
        projects = (
            await self.session.execute(
                select(Project.normalized_name, Project.two_factor_required)
                .join(ProjectRole, ProjectRole.project_id == Project.id)
                .where(ProjectRole.user_id == user_id)
                .order_by(Project.normalized_name)
            )
        ).all()
        organizations = await self.session.scalars(
            select(Organization.normalized_name)
            .join(OrganizationMember, OrganizationMember.organization_id == Organization.id)
            .where(OrganizationMember.user_id == user_id)
            .order_by(Organization.normalized_name)
        )
        return Exposure(
            projects=tuple(name for name, _ in projects),
            organizations=tuple(organizations),
            flagged_projects=tuple(name for name, flagged in projects if flagged),
        )


class InvitationSql(Steps):
    async def add_invitation(
        self,
        *,
        invitee_user_id: int,
        inviter_user_id: int,
        role: str,
        project_id: int | None,
        organization_id: int | None,
        now: datetime,
        expires_at: datetime,
    ) -> InvitationRecord:
        same_place = (
            Invitation.project_id == project_id
            if project_id is not None
            else Invitation.organization_id == organization_id
        )
        # An expired invitation no longer blocks a new one.
        await self.session.execute(
            delete(Invitation).where(
                same_place,
                Invitation.invitee_user_id == invitee_user_id,
                Invitation.expires_at <= now,
            )
        )
        row = Invitation(
            invitee_user_id=invitee_user_id,
            inviter_user_id=inviter_user_id,
            role=role,
            project_id=project_id,
            organization_id=organization_id,
            created_at=now,
            expires_at=expires_at,
        )
        await self.insert(row, Duplicate("an invitation for this user is already pending"))
        found = await self.invitation_by_id(row.id)
        assert found is not None
        return found

    async def invitation_by_id(self, invitation_id: int) -> InvitationRecord | None:
        row = await self.session.get(Invitation, invitation_id)
        return None if row is None else await self._record(row)

    async def invitations_for(self, user_id: int) -> list[InvitationRecord]:
        rows = await self.session.scalars(
            select(Invitation).where(Invitation.invitee_user_id == user_id).order_by(Invitation.id)
        )
        return [await self._record(r) for r in rows]

    async def delete_invitation(self, invitation_id: int) -> bool:
        result = await self.session.execute(
            delete(Invitation)
            .where(Invitation.id == invitation_id)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def delete_invitations_from(
        self, inviter_user_id: int, *, project_id: int | None, organization_id: int | None
    ) -> int:
        place = (
            Invitation.project_id == project_id
            if project_id is not None
            else Invitation.organization_id == organization_id
        )
        result = await self.session.execute(
            delete(Invitation)
            .where(place, Invitation.inviter_user_id == inviter_user_id)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result)

    async def _record(self, row: Invitation) -> InvitationRecord:
        project = organization = None
        if row.project_id is not None:
            found = await self.session.get(Project, row.project_id)
            project = None if found is None else _project(found)
        if row.organization_id is not None:
            org = await self.session.get(Organization, row.organization_id)
            organization = None if org is None else _organization(org)
        return InvitationRecord(
            id=row.id,
            invitee_user_id=row.invitee_user_id,
            inviter_user_id=row.inviter_user_id,
            role=row.role,
            created_at=row.created_at,
            expires_at=row.expires_at,
            project=project,
            organization=organization,
        )
