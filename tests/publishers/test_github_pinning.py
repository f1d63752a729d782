"""A GitHub publisher that names no `repository_id` is pinned to the first one that mints.

On both databases, through the real exchange: the first successful use records
the token's `repository_id` on the publisher row with a conditional write;
afterwards a re-created repository (same owner, same name, new id) is refused.
Racing first uses with different ids pin exactly one; the others are refused.
A store that cannot record the pin is a 503: nothing is minted unpinned.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakeissuer import GITHUB, Clock, FakeIssuer, github_claims
from publishing.publishingkit import app_over, codes, mint, table
from store.store_fixtures import database, store

from service.issuers import Issuers, load_issuers
from service.publishers.base import INVALID_PUBLISHER, Refusal
from service.store import SqlStore
from service.store.base import Transaction
from service.trust import Trusted
from service.trust.sql import SqlTrustStore
from service.trust.tables import publisher_spec

__all__ = ["database", "store"]

pytestmark = pytest.mark.anyio

DATA = Path(__file__).resolve().parent.parent / "data"
REPOSITORY = "octo-org/sampleproject"
FIRST, RECREATED = "99999", "100001"
AT = datetime(2027, 1, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def issuers() -> Issuers:
    return load_issuers(DATA / "issuers.toml", audience="mintgate", leeway=30)


async def trust(
    store: SqlStore, issuers: Issuers, project: str = "sampleproject", **changes: Any
) -> int:
    _, spec = publisher_spec(table(**changes), issuers)
    async with store.transaction() as tx:
        found = await tx.project_by_name(project) or await tx.add_project(project, project, AT)
        added = await tx.add_publisher(found.id, spec, source="api", created_by=None, now=AT)
    return added.id


async def pinned(store: SqlStore, project: str = "sampleproject") -> list[str | None]:
    async with store.transaction() as tx:
        found = await tx.project_by_name(project)
        assert found is not None
        return [p.repository_id for p in await tx.publishers_of(found.id)]


def token(github: FakeIssuer, repository_id: str, **extra: Any) -> str:
    return github.sign(github_claims(repository_id=repository_id, **extra))


async def test_first_use_pins_and_a_recreated_repository_is_refused_after(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers)
    assert await pinned(store) == [None]
    async with app_over(store, clock) as client:
        first = await mint(client, token(github, FIRST))
        assert first.status_code == 200, first.json()
        assert await pinned(store) == [FIRST]
        recreated = await mint(client, token(github, RECREATED))
        again = await mint(client, token(github, FIRST))
    assert (recreated.status_code, codes(recreated)) == (422, [INVALID_PUBLISHER])
    description = recreated.json()["errors"][0]["description"]
    assert f"repository_id: expected id '{FIRST}'" in description
    assert RECREATED in description
    assert again.status_code == 200, again.json()
    assert await pinned(store) == [FIRST]


async def test_a_pinned_publisher_is_checked_as_if_named_with_no_write_per_mint(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers)
    async with app_over(store, clock) as client:
        exchange = client._transport.app.state.exchange  # type: ignore[attr-defined]
        pins: list[str] = []
        real = exchange.trust.pin_repository_id

        async def counted(trusted: Trusted, repository_id: str) -> Refusal | None:
            pins.append(repository_id)
            return await real(trusted, repository_id)  # type: ignore[no-any-return]

        exchange.trust.pin_repository_id = counted
        assert (await mint(client, token(github, FIRST))).status_code == 200
        assert (await mint(client, token(github, FIRST))).status_code == 200
        recreated = await mint(client, token(github, RECREATED))
    # Only the first mint writes; afterwards the pin is part of the publisher's own checks.
    assert pins == [FIRST]
    assert recreated.json()["errors"][0]["description"].startswith(
        "valid token, but no corresponding publisher: repository_id: expected id"
    )


async def test_a_named_repository_id_refuses_a_mismatch_at_first_use(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers, repository_id=FIRST)
    async with app_over(store, clock) as client:
        refused = await mint(client, token(github, RECREATED))
        minted = await mint(client, token(github, FIRST))
    assert (refused.status_code, codes(refused)) == (422, [INVALID_PUBLISHER])
    assert f"repository_id: expected id '{FIRST}'" in refused.json()["errors"][0]["description"]
    assert minted.status_code == 200, minted.json()
    # The table names it: no pin is recorded beside it.
    assert await pinned(store) == [None]


async def test_the_owner_id_is_still_checked_before_any_pin(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers)
    async with app_over(store, clock) as client:
        refused = await mint(client, token(github, FIRST, owner_id="7654321"))
    assert (refused.status_code, codes(refused)) == (422, [INVALID_PUBLISHER])
    assert "repository_owner_id" in refused.json()["errors"][0]["description"]
    # A token the publisher refuses never pins it.
    assert await pinned(store) == [None]


async def test_a_customised_sub_neither_pins_differently_nor_matters(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers)
    async with app_over(store, clock) as client:
        first = await mint(
            client, token(github, FIRST, sub="repository_id:1:repository_owner_id:1")
        )
        impostor = await mint(client, token(github, RECREATED, sub=f"repository_id:{FIRST}"))
    assert first.status_code == 200, first.json()
    assert (impostor.status_code, codes(impostor)) == (422, [INVALID_PUBLISHER])
    assert await pinned(store) == [FIRST]


async def test_racing_first_uses_with_different_ids_pin_exactly_one(
    store: SqlStore, issuers: Issuers
) -> None:
    await trust(store, issuers)
    trust_store = SqlTrustStore(store, issuers)
    # Every racer read the publisher unpinned before any of them writes: the store alone decides.
    (entry,) = await trust_store.publishers_for(GITHUB, REPOSITORY)
    ids = ["1001", "1002", "1003", "1004"]

    outcomes = await asyncio.gather(*(trust_store.pin_repository_id(entry, i) for i in ids))

    winners = [i for i, outcome in zip(ids, outcomes, strict=True) if outcome is None]
    assert len(winners) == 1, outcomes
    losers = [o for o in outcomes if o is not None]
    assert all(isinstance(o, Refusal) and o.code == INVALID_PUBLISHER for o in losers)
    assert all(f"expected id '{winners[0]}'" in o.description for o in losers)
    assert await pinned(store) == winners
    # The same id again (a second job of the winning repository) is no conflict.
    assert await trust_store.pin_repository_id(entry, winners[0]) is None


async def test_racing_mints_from_two_repositories_of_one_name_pin_one(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers)
    async with app_over(store, clock) as client:
        responses = await asyncio.gather(
            mint(client, token(github, FIRST)), mint(client, token(github, RECREATED))
        )
    assert sorted(r.status_code for r in responses) == [200, 422], [r.json() for r in responses]
    (winner,) = [
        i for i, r in zip((FIRST, RECREATED), responses, strict=True) if r.status_code == 200
    ]
    assert await pinned(store) == [winner]


class _PinFails:
    """The app's store, except that the transaction of the pin cannot reach the database."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.inner.transaction() as tx:
            yield _NoPin(tx)


class _NoPin:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def __getattr__(self, name: str) -> Any:
        if name == "pin_publisher_repository_id":
            raise ConnectionResetError("database went away")
        return getattr(self.tx, name)


async def test_a_pin_the_store_cannot_record_is_a_503_and_mints_nothing(
    store: SqlStore, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    await trust(store, issuers)
    signed = token(github, FIRST)
    async with app_over(store, clock) as client:
        exchange = client._transport.app.state.exchange  # type: ignore[attr-defined]
        healthy = exchange.trust.source.store  # the index's SqlTrustStore
        exchange.trust.source.store = _PinFails(store)
        down = await mint(client, signed)
        exchange.trust.source.store = healthy
        # Nothing was signed and the jti was not burnt: the same job may retry.
        retried = await mint(client, signed)
    assert (down.status_code, codes(down)) == (503, ["service-unavailable"])
    assert retried.status_code == 200, retried.json()
    assert await pinned(store) == [FIRST]


async def test_a_store_entry_without_a_row_is_never_trusted_unpinned(
    store: SqlStore, issuers: Issuers
) -> None:
    publisher, _ = publisher_spec(table(), issuers)
    outcome = await SqlTrustStore(store, issuers).pin_repository_id(
        Trusted("sampleproject", publisher, ref=None), FIRST
    )
    assert isinstance(outcome, Refusal)
    assert outcome.code == INVALID_PUBLISHER
    removed = await SqlTrustStore(store, issuers).pin_repository_id(
        Trusted("sampleproject", publisher, ref=987654), FIRST
    )
    assert isinstance(removed, Refusal)
    assert removed.code == INVALID_PUBLISHER
