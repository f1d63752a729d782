"""Projects, organisations and invitations behind the 2FA gate, and the operator's policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from accounts_helpers import ctx_for, give_two_factor, new_user
from fakeissuer import Clock

from service.accounts.accounts import Accounts
from service.accounts.core import Context, Deps, Enforcement
from service.accounts.invitations import accept, decline, invite
from service.accounts.policy import Action
from service.accounts.projects import (
    Unprotected,
    authorize,
    create_organization,
    create_project,
    set_two_factor_required,
    without_two_factor,
)
from service.accounts.two_factor import reset_two_factor
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord
from service.store.records import InvitationRecord, ProjectRecord
from service.store.sql_audit import AuditSql

pytestmark = pytest.mark.anyio

OPERATOR = Context(actor="operator:root")


def _code(result: object) -> str:
    assert isinstance(result, Refusal), result
    return result.code


async def _project_with(
    accounts: Accounts, deps: Deps, invitee: UserRecord, name: str = "Foo_Bar"
) -> tuple[UserRecord, ProjectRecord, InvitationRecord]:
    owner = await new_user(accounts, "owner", two_factor=True)
    project = await create_project(deps, ctx_for(owner), name)
    assert isinstance(project, ProjectRecord), project
    invitation = await invite(deps, ctx_for(owner), invitee.username, "maintainer", project=name)
    assert isinstance(invitation, InvitationRecord), invitation
    return owner, project, invitation


async def test_creating_needs_2fa_and_names_are_pep503_unique(
    accounts: Accounts, deps: Deps
) -> None:
    bob = await new_user(accounts, "bob")
    refused = await create_project(deps, ctx_for(bob), "foo")
    assert _code(refused) == "two-factor-required"
    assert isinstance(refused, Refusal)
    assert "add an authenticator app" in refused.description
    assert _code(await create_organization(deps, ctx_for(bob), "acme")) == "two-factor-required"
    bob = await give_two_factor(accounts, bob)
    project = await create_project(deps, ctx_for(bob), "Foo_Bar")
    assert isinstance(project, ProjectRecord)
    assert project.normalized_name == "foo-bar"
    for clash in ("foo.bar", "FOO-BAR", "foo__bar"):
        assert _code(await create_project(deps, ctx_for(bob), clash)) == "name-taken"
    assert _code(await create_project(deps, ctx_for(bob), "-bad-")) == "invalid-name"


async def test_accepting_an_invitation_needs_2fa(
    accounts: Accounts, deps: Deps, store: SqlStore
) -> None:
    bob = await new_user(accounts, "bob")
    _, project, invitation = await _project_with(accounts, deps, bob)
    assert _code(await accept(deps, ctx_for(bob), invitation.id)) == "two-factor-required"
    bob = await give_two_factor(accounts, bob)
    assert isinstance(await accept(deps, ctx_for(bob), invitation.id), InvitationRecord)
    assert _code(await accept(deps, ctx_for(bob), invitation.id)) == "no-such-invitation"
    async with store.transaction() as tx:
        members = [(m.username, m.role) for m in await tx.project_members(project.id)]
        events = [e.event for e in await tx.audit_events(project="foo-bar")]
    assert members == [("bob", "maintainer"), ("owner", "owner")]
    assert events == [
        "project:created",
        "role:added",
        "invitation:created",
        "invitation:accepted",
        "role:added",
    ]


@pytest.mark.parametrize("role", ["maintainer", "owner"])
async def test_inviting_needs_a_second_factor_proven_within_15_minutes(
    accounts: Accounts, deps: Deps, clock: Clock, role: str
) -> None:
    """Any invitation hands out the right to upload: a stolen session alone must not do it."""
    owner, _, _ = await _project_with(accounts, deps, await new_user(accounts, "bob"))
    await new_user(accounts, "carol")
    clock.advance(15 * 60 + 1)
    stale = await invite(deps, ctx_for(owner), "carol", role, project="foo-bar")
    assert _code(stale) == "recent-two-factor-required"
    async with accounts.store.transaction() as tx:
        created = [e for e in await tx.audit_events(project="foo-bar") if e.event.startswith("inv")]
    assert len(created) == 1  # bob's, from the set-up: nothing for carol
    owner = await give_two_factor(accounts, owner)
    assert isinstance(
        await invite(deps, ctx_for(owner), "carol", role, project="foo-bar"), InvitationRecord
    )


async def test_an_invitation_expires_after_seven_days(
    accounts: Accounts, deps: Deps, clock: Clock
) -> None:
    bob = await new_user(accounts, "bob", two_factor=True)
    owner, _, invitation = await _project_with(accounts, deps, bob)
    clock.advance(timedelta(days=7).total_seconds())
    assert _code(await accept(deps, ctx_for(bob), invitation.id)) == "invitation-expired"
    owner = await give_two_factor(accounts, owner)  # a week on, inviting needs a fresh proof
    again = await invite(deps, ctx_for(owner), "bob", "maintainer", project="foo-bar")
    assert isinstance(again, InvitationRecord)
    clock.advance(timedelta(days=7).total_seconds() - 1)  # one second to spare
    assert isinstance(await accept(deps, ctx_for(bob), again.id), InvitationRecord)


async def test_decline_duplicate_and_strangers(accounts: Accounts, deps: Deps) -> None:
    bob = await new_user(accounts, "bob")  # declining needs no 2FA
    owner, _, invitation = await _project_with(accounts, deps, bob)
    owner_ctx = ctx_for(owner)
    pending = await invite(deps, owner_ctx, "bob", "owner", project="foo-bar")
    assert _code(pending) == "invitation-pending"
    eve = await new_user(accounts, "eve", two_factor=True)
    assert _code(await accept(deps, ctx_for(eve), invitation.id)) == "no-such-invitation"
    assert _code(await invite(deps, ctx_for(eve), "bob", "owner", project="foo-bar")) == (
        "not-an-owner"
    )
    assert isinstance(await decline(deps, ctx_for(bob), invitation.id), InvitationRecord)
    assert _code(await decline(deps, ctx_for(bob), invitation.id)) == "no-such-invitation"
    assert _code(await invite(deps, owner_ctx, "owner", "owner", project="foo-bar")) == (
        "already-a-member"
    )
    assert _code(await invite(deps, owner_ctx, "nobody", "owner", project="foo-bar")) == (
        "no-such-user"
    )


async def test_organization_invitations(accounts: Accounts, deps: Deps, store: SqlStore) -> None:
    owner = await new_user(accounts, "owner", two_factor=True)
    bob = await new_user(accounts, "bob", two_factor=True)
    assert not isinstance(await create_organization(deps, ctx_for(owner), "Acme"), Refusal)
    assert _code(await invite(deps, ctx_for(owner), "bob", "maintainer", organization="acme")) == (
        "invalid-role"
    )
    invitation = await invite(deps, ctx_for(owner), "bob", "member", organization="acme")
    assert isinstance(invitation, InvitationRecord)
    assert invitation.target == "organization Acme"
    assert isinstance(await accept(deps, ctx_for(bob), invitation.id), InvitationRecord)
    async with store.transaction() as tx:
        exposure = await tx.exposure(bob.id)
        events = [e.event for e in await tx.audit_events(organization="acme")]
    assert exposure.organizations == ("acme",)
    assert events[-2:] == ["invitation:accepted", "role:added"]


async def test_a_failed_accept_leaves_nothing_written(
    accounts: Accounts, deps: Deps, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = await new_user(accounts, "bob", two_factor=True)
    _, project, invitation = await _project_with(accounts, deps, bob)
    original = AuditSql.record

    async def failing(self: AuditSql, event: object) -> None:
        if getattr(event, "event", "") == "role:added":  # after the role row is written
            raise RuntimeError("injected")
        await original(self, event)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditSql, "record", failing)
    with pytest.raises(RuntimeError, match="injected"):
        await accept(deps, ctx_for(bob), invitation.id)
    monkeypatch.undo()
    async with store.transaction() as tx:
        members = [m.username for m in await tx.project_members(project.id)]
        still = await tx.invitation_by_id(invitation.id)
        events = [e.event for e in await tx.audit_events(subject_user_id=bob.id)]
    assert members == ["owner"]
    assert still is not None
    assert "invitation:accepted" not in events
    assert isinstance(await accept(deps, ctx_for(bob), invitation.id), InvitationRecord)


async def _maintainer_without_2fa(accounts: Accounts, deps: Deps) -> UserRecord:
    """bob maintains foo-bar, then loses 2FA through an operator reset."""
    bob = await new_user(accounts, "bob", two_factor=True)
    _, _, invitation = await _project_with(accounts, deps, bob)
    assert isinstance(await accept(deps, ctx_for(bob), invitation.id), InvitationRecord)
    assert not isinstance(await reset_two_factor(deps, OPERATOR, "bob", "lost phone"), Refusal)
    return bob


async def test_the_project_flag_holds_its_maintainers_at_enrolment(
    accounts: Accounts, deps: Deps, store: SqlStore
) -> None:
    bob = await _maintainer_without_2fa(accounts, deps)
    assert isinstance(await authorize(deps, ctx_for(bob), Action.VIEW_PROJECTS), UserRecord)
    flagged = await set_two_factor_required(deps, OPERATOR, "Foo.Bar", True)
    assert isinstance(flagged, ProjectRecord)
    assert flagged.two_factor_required
    held = await authorize(deps, ctx_for(bob), Action.VIEW_PROJECTS)
    assert _code(held) == "two-factor-required"
    assert isinstance(held, Refusal)
    assert held.description.startswith("project foo-bar requires two-factor authentication")
    assert isinstance(await authorize(deps, ctx_for(bob), Action.ENROL), UserRecord)
    async with store.transaction() as tx:
        [event] = [
            e for e in await tx.audit_events(project="foo-bar") if e.event.startswith("operator")
        ]
    assert (event.actor, event.details) == ("operator:root", {"required": True})


@pytest.mark.parametrize(
    ("days_from_now", "held"),
    [
        pytest.param(1, False, id="tomorrow"),
        pytest.param(0, True, id="today"),
        pytest.param(-30, True, id="last-month"),
    ],
)
async def test_the_global_date_holds_maintainers_at_enrolment(
    accounts: Accounts, deps: Deps, days_from_now: int, held: bool
) -> None:
    bob = await _maintainer_without_2fa(accounts, deps)
    carol = await new_user(accounts, "carol")  # no roles: never held
    due = deps.now().date() + timedelta(days=days_from_now)
    policy = replace(deps, enforcement=Enforcement(required_from=due))
    result = await authorize(policy, ctx_for(bob), Action.VIEW_PROJECTS)
    assert isinstance(result, Refusal) is held
    assert isinstance(await authorize(policy, ctx_for(carol), Action.VIEW_PROJECTS), UserRecord)
    # Uploading is gated whatever the date.
    assert _code(await authorize(policy, ctx_for(bob), Action.UPLOAD, "foo-bar")) == (
        "two-factor-required"
    )


async def test_report_lists_maintainers_without_2fa(accounts: Accounts, deps: Deps) -> None:
    assert await without_two_factor(deps) == []
    await _maintainer_without_2fa(accounts, deps)
    assert await without_two_factor(deps) == [
        Unprotected("project", "Foo_Bar", False, (("bob", "maintainer"),))
    ]


async def test_authorize_checks_the_role_in_the_named_project(
    accounts: Accounts, deps: Deps
) -> None:
    bob = await new_user(accounts, "bob", two_factor=True)
    owner, _, _ = await _project_with(accounts, deps, bob)
    assert isinstance(await authorize(deps, ctx_for(owner), Action.UPLOAD, "FOO_bar"), UserRecord)
    assert _code(await authorize(deps, ctx_for(bob), Action.UPLOAD, "foo-bar")) == (
        "not-a-maintainer"
    )
