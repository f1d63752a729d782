"""Two replicas on one PostgreSQL: a change made through A takes effect on B within 1 s.

Each replica is the real app with its lifespan running (its index follows the
feed in the background). No test waits a fixed time: each mints again and again
with fresh tokens until B agrees, and checks that no answer B gave more than the
bound after the change still disagreed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fakeissuer import Clock, FakeIssuer, github_claims
from publishingkit import app_over, table
from store.store_fixtures import Database

from service.issuers import Issuers
from service.store import SqlStore
from service.trust.tables import publisher_spec

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BOUND = 1.0
NOW = datetime(2027, 1, 15, tzinfo=UTC)


async def propagation(
    change: Callable[[], Awaitable[None]],
    replica: httpx.AsyncClient,
    github: FakeIssuer,
    *,
    wanted: int,
) -> float:
    """Seconds from the change's commit until `replica` answers `wanted`; asserts the bound."""
    await change()
    committed = time.monotonic()
    late: list[float] = []
    for _ in range(10_000):
        response = await replica.post(
            "/_/oidc/mint-token", json={"token": github.sign(github_claims())}
        )
        answered = time.monotonic()
        if response.status_code == wanted:
            assert not late, f"disagreed {max(late):.3f}s after the change"
            return answered - committed
        assert response.status_code in (200, 422), response.text
        if answered - committed > BOUND:
            late.append(answered - committed)
    raise AssertionError("the replica never agreed")


async def test_a_publisher_added_and_removed_on_a_reaches_b_within_the_bound(
    postgres: Database, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    a, b = await postgres.migrated_store(), await postgres.migrated_store()
    try:
        async with app_over(a, clock), app_over(b, clock) as replica_b:
            assert (
                await replica_b.post(
                    "/_/oidc/mint-token", json={"token": github.sign(github_claims())}
                )
            ).status_code == 422  # B has the key cached as "no publisher"
            ids: list[int] = []

            async def add() -> None:
                _, spec = publisher_spec(table(repository_id="99999"), issuers)
                async with a.transaction() as tx:
                    project = await tx.add_project("sampleproject", "sampleproject", NOW)
                    added = await tx.add_publisher(
                        project.id, spec, source="api", created_by=None, now=NOW
                    )
                ids.append(added.id)

            async def remove() -> None:
                async with a.transaction() as tx:
                    project = await tx.project_by_name("sampleproject")
                    assert project is not None
                    assert await tx.delete_publisher(project.id, ids[0])

            added = await propagation(add, replica_b, github, wanted=200)
            removed = await propagation(remove, replica_b, github, wanted=422)
    finally:
        await a.close()
        await b.close()
    # propagation() already failed on any answer past the bound; this is its margin.
    assert added <= BOUND + 0.5, added
    assert removed <= BOUND + 0.5, removed


async def test_b_with_its_database_gone_mints_nothing_once_the_bound_passes(
    postgres: Database, issuers: Issuers, github: FakeIssuer, issuers_mock: Any, clock: Clock
) -> None:
    """The feed lost and the store gone: cached trust lasts the bound, then 503s."""
    store = await postgres.migrated_store()
    _, spec = publisher_spec(table(repository_id="99999"), issuers)
    async with store.transaction() as tx:
        project = await tx.add_project("sampleproject", "sampleproject", NOW)
        await tx.add_publisher(project.id, spec, source="api", created_by=None, now=NOW)
    try:
        async with app_over(store, clock) as replica:
            first = await replica.post(
                "/_/oidc/mint-token", json={"token": github.sign(github_claims())}
            )
            assert first.status_code == 200, first.text

            async def cut() -> None:
                await _break(store)

            await propagation(cut, replica, github, wanted=503)
    finally:
        await store.close()


async def _break(store: SqlStore) -> None:
    # Every new connection fails at once, as with a server that is down.
    await store.engine.dispose()
    store.engine.pool._creator = _refuse  # type: ignore[attr-defined]


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise OSError("connection refused")
