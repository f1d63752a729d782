"""Security-key challenges and invitations: single use, settled by the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.store import Duplicate, SqlStore

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def _user(store: SqlStore, name: str) -> int:
    async with store.transaction() as tx:
        return (await tx.add_user(name, f"{name}@example.org", "hash", NOW)).id


async def test_a_challenge_is_consumed_once_even_concurrently(store: SqlStore) -> None:
    alice = await _user(store, "alice")
    async with store.transaction() as tx:
        await tx.add_challenge(alice, "register", b"c" * 32, NOW, NOW + timedelta(minutes=5))

    async def consume() -> str:
        async with store.transaction() as tx:
            return await tx.consume_challenge(alice, "register", b"c" * 32, NOW)

    results = await asyncio.gather(*(consume() for _ in range(5)))
    assert sorted(results) == ["ok", "unknown", "unknown", "unknown", "unknown"]


async def test_a_challenge_is_bound_to_its_user_purpose_and_time(store: SqlStore) -> None:
    alice, bob = await _user(store, "alice"), await _user(store, "bob")
    later = NOW + timedelta(minutes=5)
    async with store.transaction() as tx:
        await tx.add_challenge(alice, "authenticate", b"a" * 32, NOW, later)
        assert await tx.consume_challenge(bob, "authenticate", b"a" * 32, NOW) == "unknown"
        assert await tx.consume_challenge(alice, "register", b"a" * 32, NOW) == "unknown"
        assert await tx.consume_challenge(alice, "authenticate", b"a" * 32, later) == "expired"
        assert await tx.consume_challenge(alice, "authenticate", b"a" * 32, NOW) == "unknown"


async def test_one_pending_invitation_per_place_and_person(store: SqlStore) -> None:
    alice, bob = await _user(store, "alice"), await _user(store, "bob")
    async with store.transaction() as tx:
        project = await tx.add_project("Foo", "foo", NOW)
        org = await tx.add_organization("Foo", "foo", NOW)
        args = {"invitee_user_id": bob, "inviter_user_id": alice, "role": "owner", "now": NOW}
        expires = NOW + timedelta(days=7)
        await tx.add_invitation(
            **args, project_id=project.id, organization_id=None, expires_at=expires
        )
        # The same name as an organisation is another place.
        await tx.add_invitation(**args, project_id=None, organization_id=org.id, expires_at=expires)
        with pytest.raises(Duplicate):
            await tx.add_invitation(
                **args, project_id=project.id, organization_id=None, expires_at=expires
            )
        assert len(await tx.invitations_for(bob)) == 2
