"""Role changes, removals and leaving, in projects and organizations: owners only, 2FA and a
fresh proof, never the last owner, audited, the affected user told."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from accounts_helpers import RecordingNotifier, ctx_for, new_user
from fakeissuer import Clock

from service.accounts.accounts import Accounts
from service.accounts.core import Context, Deps
from service.accounts.invitations import accept, invite
from service.accounts.policy import Action
from service.accounts.projects import authorize, create_organization, create_project
from service.accounts.roles import RoleChange, change_role, list_roles, remove_role
from service.accounts.two_factor import reset_two_factor
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord
from service.store.records import InvitationRecord
from service.store.sql_access import OrganizationSql, ProjectSql
from service.store.sql_audit import AuditSql

pytestmark = pytest.mark.anyio

# kind -> (the keyword naming the place, the non-owner role)
KINDS = {"project": ("project", "maintainer"), "organization": ("organization", "member")}


def _code(result: object) -> str:
    assert isinstance(result, Refusal), result
    return result.code


async def _place(
    accounts: Accounts, deps: Deps, kind: str, *others: str
) -> tuple[UserRecord, list[UserRecord], dict[str, str]]:
    """alice owns Foo_Bar (a project or an organization); each of `others` joined with the
    plain role. Everyone has 2FA, proven just now."""
    alice = await new_user(accounts, "alice", two_factor=True)
    create = create_project if kind == "project" else create_organization
    assert not isinstance(await create(deps, ctx_for(alice), "Foo_Bar"), Refusal)
    where = {KINDS[kind][0]: "foo-bar"}
    joined = []
    for name in others:
        user = await new_user(accounts, name, two_factor=True)
        invitation = await invite(deps, ctx_for(alice), name, KINDS[kind][1], **where)
        assert isinstance(invitation, InvitationRecord), invitation
        assert isinstance(await accept(deps, ctx_for(user), invitation.id), InvitationRecord)
        joined.append(user)
    return alice, joined, where


async def _roles(deps: Deps, user: UserRecord, where: dict[str, str]) -> list[tuple[str, str]]:
    place = await list_roles(deps, ctx_for(user), **where)
    assert not isinstance(place, Refusal), place
    return [(m.username, m.role) for m in place.members]


async def _events(store: SqlStore, where: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    async with store.transaction() as tx:
        events = await tx.audit_events(**where)
    return [(e.event, dict(e.details)) for e in events if e.event.startswith("role:")]


@pytest.mark.parametrize("kind", ["project", "organization"])
async def test_an_owner_promotes_and_demotes_a_collaborator(
    accounts: Accounts, deps: Deps, store: SqlStore, notices: RecordingNotifier, kind: str
) -> None:
    alice, [bob], where = await _place(accounts, deps, kind, "bob")
    plain = KINDS[kind][1]
    promoted = await change_role(deps, ctx_for(alice), "BOB", "owner", **where)
    assert promoted == RoleChange(kind, "foo-bar", "bob", plain, "owner")
    assert await _roles(deps, bob, where) == [("alice", "owner"), ("bob", "owner")]
    # Now bob may demote alice: two owners, so one may go.
    demoted = await change_role(deps, ctx_for(bob), "alice", plain, **where)
    assert isinstance(demoted, RoleChange)
    assert await _roles(deps, bob, where) == [("alice", plain), ("bob", "owner")]
    assert (await _events(store, where))[-2:] == [
        ("role:changed", {"old_role": plain, "role": "owner", "invitations_voided": 0}),
        ("role:changed", {"old_role": "owner", "role": plain, "invitations_voided": 0}),
    ]
    assert notices.events()[-2:] == [("bob", "role-changed"), ("alice", "role-changed")]
    assert notices.notices[-1].detail == f"{kind} foo-bar: owner -> {plain}"


@pytest.mark.parametrize("kind", ["project", "organization"])
async def test_the_last_owner_can_be_neither_demoted_nor_removed_nor_leave(
    accounts: Accounts, deps: Deps, store: SqlStore, kind: str
) -> None:
    alice, _, where = await _place(accounts, deps, kind, "bob")
    ctx = ctx_for(alice)
    assert _code(await change_role(deps, ctx, "alice", KINDS[kind][1], **where)) == "last-owner"
    assert _code(await remove_role(deps, ctx, "alice", **where)) == "last-owner"
    assert _code(await remove_role(deps, ctx, "Alice", **where)) == "last-owner"
    assert await _roles(deps, alice, where) == [("alice", "owner"), ("bob", KINDS[kind][1])]
    # Same role again: nothing to do, nothing audited, nothing refused.
    same = await change_role(deps, ctx, "alice", "owner", **where)
    assert isinstance(same, RoleChange)
    assert [e for e, _ in await _events(store, where)] == ["role:added", "role:added"]


@pytest.mark.parametrize("kind", ["project", "organization"])
async def test_an_owner_removes_a_collaborator_who_is_told(
    accounts: Accounts, deps: Deps, store: SqlStore, notices: RecordingNotifier, kind: str
) -> None:
    alice, [bob, carol], where = await _place(accounts, deps, kind, "bob", "carol")
    removed = await remove_role(deps, ctx_for(alice), "bob", **where)
    assert removed == RoleChange(kind, "foo-bar", "bob", KINDS[kind][1], None)
    assert [u for u, _ in await _roles(deps, alice, where)] == ["alice", "carol"]
    assert _code(await list_roles(deps, ctx_for(bob), **where)) == "not-a-member"
    assert _code(await remove_role(deps, ctx_for(alice), "bob", **where)) == "no-such-role"
    assert notices.events()[-1] == ("bob", "role-removed")
    assert (await _events(store, where))[-1][0] == "role:removed"
    # A plain collaborator changes and removes nothing.
    assert _code(await remove_role(deps, ctx_for(carol), "alice", **where)) == "not-an-owner"
    assert _code(await change_role(deps, ctx_for(carol), "carol", "owner", **where)) == (
        "not-an-owner"
    )


async def test_a_removed_maintainer_can_no_longer_upload(accounts: Accounts, deps: Deps) -> None:
    alice, [bob], where = await _place(accounts, deps, "project", "bob")
    assert isinstance(await authorize(deps, ctx_for(bob), Action.UPLOAD, "foo-bar"), UserRecord)
    assert isinstance(await remove_role(deps, ctx_for(alice), "bob", **where), RoleChange)
    refused = await authorize(deps, ctx_for(bob), Action.UPLOAD, "foo-bar")
    assert _code(refused) == "not-a-maintainer"


@pytest.mark.parametrize("kind", ["project", "organization"])
async def test_a_member_leaves_and_the_owners_are_told(
    accounts: Accounts, deps: Deps, store: SqlStore, notices: RecordingNotifier, kind: str
) -> None:
    alice, [bob], where = await _place(accounts, deps, kind, "bob")
    left = await remove_role(deps, ctx_for(bob), "bob", **where)
    assert isinstance(left, RoleChange)
    assert await _roles(deps, alice, where) == [("alice", "owner")]
    assert notices.events()[-2:] == [("bob", "role-left"), ("alice", "member-left")]
    assert (await _events(store, where))[-1] == (
        "role:left",
        {"role": KINDS[kind][1], "invitations_voided": 0},
    )
    assert _code(await remove_role(deps, ctx_for(bob), "bob", **where)) == "not-a-member"


async def test_changes_need_2fa_and_a_fresh_proof(
    accounts: Accounts, deps: Deps, clock: Clock
) -> None:
    alice, [bob], where = await _place(accounts, deps, "project", "bob")
    clock.advance(15 * 60 + 1)
    stale = await change_role(deps, ctx_for(alice), "bob", "owner", **where)
    assert _code(stale) == "recent-two-factor-required"
    assert _code(await remove_role(deps, ctx_for(alice), "bob", **where)) == (
        "recent-two-factor-required"
    )
    assert _code(await remove_role(deps, ctx_for(bob), "bob", **where)) == (
        "recent-two-factor-required"
    )
    # An owner who lost 2FA (operator reset) changes nothing until enrolled again.
    assert not isinstance(await reset_two_factor(deps, Context("operator"), "alice", "x"), Refusal)
    refused = await change_role(deps, ctx_for(alice), "bob", "owner", **where)
    assert _code(refused) == "two-factor-required"
    assert isinstance(refused, Refusal)
    assert "authenticator app (TOTP) or a security key" in refused.description


async def test_a_member_without_2fa_may_still_leave(accounts: Accounts, deps: Deps) -> None:
    """Held at enrolment by the operator's policy, a user can still shed a role."""
    _, [bob], where = await _place(accounts, deps, "project", "bob")
    assert not isinstance(await reset_two_factor(deps, Context("operator"), "bob", "x"), Refusal)
    assert isinstance(await remove_role(deps, ctx_for(bob), "bob", **where), RoleChange)


@pytest.mark.parametrize("kind", ["project", "organization"])
async def test_a_demoted_owners_pending_invitations_are_voided(
    accounts: Accounts, deps: Deps, store: SqlStore, kind: str
) -> None:
    alice, [bob], where = await _place(accounts, deps, kind, "bob")
    await new_user(accounts, "mallory", two_factor=True)
    assert isinstance(await change_role(deps, ctx_for(alice), "bob", "owner", **where), RoleChange)
    sent = await invite(deps, ctx_for(bob), "mallory", "owner", **where)
    assert isinstance(sent, InvitationRecord)
    assert isinstance(
        await change_role(deps, ctx_for(alice), "bob", KINDS[kind][1], **where), RoleChange
    )
    async with store.transaction() as tx:
        assert await tx.invitation_by_id(sent.id) is None
    assert (await _events(store, where))[-1][1]["invitations_voided"] == 1


@pytest.mark.parametrize(
    ("call", "code"),
    [
        pytest.param(
            lambda d, c: change_role(d, c, "bob", "admin", project="foo-bar"),
            "invalid-role",
            id="unknown-role",
        ),
        pytest.param(
            lambda d, c: change_role(d, c, "bob", "maintainer", organization="foo-bar"),
            "invalid-role",
            id="project-role-in-an-organization",
        ),
        pytest.param(
            lambda d, c: change_role(d, c, "bob", "owner", project="-bad-"),
            "invalid-name",
            id="bad-name",
        ),
        pytest.param(
            lambda d, c: remove_role(d, c, "bob", project="nope"),
            "no-such-project-or-organization",
            id="no-such-project",
        ),
        pytest.param(
            lambda d, c: change_role(d, c, "nobody", "owner", project="foo-bar"),
            "no-such-role",
            id="no-such-user",
        ),
        pytest.param(
            lambda d, c: list_roles(d, c, organization="foo-bar"),
            "no-such-project-or-organization",
            id="no-such-organization",
        ),
    ],
)
async def test_bad_requests_are_refused_and_change_nothing(
    accounts: Accounts, deps: Deps, store: SqlStore, call: Any, code: str
) -> None:
    alice, _, where = await _place(accounts, deps, "project", "bob")
    before = await _roles(deps, alice, where)
    assert _code(await call(deps, ctx_for(alice))) == code
    assert await _roles(deps, alice, where) == before


async def test_a_failed_change_leaves_nothing_written(
    accounts: Accounts, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _, where = await _place(accounts, deps, "project", "bob")
    original = AuditSql.record

    async def failing(self: AuditSql, event: Any) -> None:
        if event.event == "role:removed":  # after the role row is deleted
            raise RuntimeError("injected")
        await original(self, event)

    monkeypatch.setattr(AuditSql, "record", failing)
    with pytest.raises(RuntimeError, match="injected"):
        await remove_role(deps, ctx_for(alice), "bob", **where)
    monkeypatch.undo()
    assert await _roles(deps, alice, where) == [("alice", "owner"), ("bob", "maintainer")]


@pytest.mark.parametrize("kind", ["project", "organization"])
async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    accounts: Accounts, deps: Deps, store: SqlStore, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The place's row lock (PostgreSQL) or the serial writer (SQLite): exactly one wins."""
    alice, [bob], where = await _place(accounts, deps, kind, "bob")
    assert isinstance(await change_role(deps, ctx_for(alice), "bob", "owner", **where), RoleChange)
    plain = KINDS[kind][1]
    if store.engine.dialect.name == "postgresql":
        # Both transactions are open and past the gate before either takes the lock, so
        # without it each would read "two owners" and both demotions would commit.
        # (SQLite's second BEGIN IMMEDIATE waits for the first commit: no barrier there.)
        both_in = asyncio.Barrier(2)
        name = "lock_project" if kind == "project" else "lock_organization"
        group = ProjectSql if kind == "project" else OrganizationSql
        original = getattr(group, name)

        async def lock_when_both_in(self: Any, place_id: int) -> None:
            await both_in.wait()
            await original(self, place_id)

        monkeypatch.setattr(group, name, lock_when_both_in)
    results = await asyncio.gather(
        change_role(deps, ctx_for(alice), "bob", plain, **where),
        change_role(deps, ctx_for(bob), "alice", plain, **where),
    )
    assert sorted(isinstance(r, RoleChange) for r in results) == [False, True]
    # The loser runs second and finds itself demoted already.
    assert [_code(r) for r in results if isinstance(r, Refusal)] == ["not-an-owner"]
    owners = [u for u, role in await _roles(deps, alice, where) if role == "owner"]
    assert len(owners) == 1
