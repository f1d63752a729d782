"""A batch of mint records: PostgreSQL builds the rows in SQL, SQLite in Python
(service/store/sql_minted.py). Both must leave exactly the same trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from service.store import SqlStore
from service.store.records import ACTOR_LENGTH

pytestmark = pytest.mark.anyio

AT = 1_780_000_000.25
ISSUER = "https://token.actions.githubusercontent.com"


def record(jti: str, uses: list[list[object]], *, run: str | None = "77") -> bytes:
    """A mint record in the format Transaction.record_mints documents."""
    projects = [use[1] for use in uses]
    return json.dumps([AT, ISSUER, run, jti, 1_780_000_000, 1_780_000_900, projects, uses]).encode()


async def trail(store: SqlStore) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    async with store.transaction() as tx:
        events = await tx.audit_events(project=None)
        tokens = await tx.minted_tokens(
            publisher_id=None,
            repository=None,
            unexpired_at=datetime.fromtimestamp(AT, UTC),
            since=None,
            until=None,
        )
    return (
        sorted(
            (
                e.event,
                e.actor,
                e.occurred_at,
                e.subject_project,
                json.dumps(e.details, sort_keys=True),
            )
            for e in events
        ),
        sorted(
            (
                (
                    t.jti,
                    t.publisher_id,
                    t.project,
                    t.issuer,
                    t.repository,
                    t.issued_at,
                    t.expires_at,
                )
                for t in tokens
            ),
            key=lambda row: (row[0], row[2]),
        ),
    )


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_each_publisher_of_a_mint_leaves_a_token_row_and_an_event(store: SqlStore) -> None:
    long_identity = "github:" + "o" * 200
    async with store.transaction() as tx:
        await tx.record_mints(
            [
                record("j1", [[7, "alpha", "github:octo/alpha:release.yml", "octo/alpha"]]),
                record(
                    "j2",
                    [
                        [8, "beta", long_identity, "octo/beta"],
                        [None, "gamma", "gitlab:g/h:ci", "g/h"],
                    ],
                    run=None,
                ),
            ]
        )
    events, tokens = await trail(store)

    assert tokens == [
        ("j1", 7, "alpha", ISSUER, "octo/alpha", at(1_780_000_000), at(1_780_000_900)),
        ("j2", 8, "beta", ISSUER, "octo/beta", at(1_780_000_000), at(1_780_000_900)),
        ("j2", None, "gamma", ISSUER, "g/h", at(1_780_000_000), at(1_780_000_900)),
    ]
    details = {
        "alpha": {
            "issuer": ISSUER,
            "publisher_id": 7,
            "publisher": "github:octo/alpha:release.yml",
            "projects": ["alpha"],
            "jti": "j1",
            "run_id": "77",
        },
        "beta": {
            "issuer": ISSUER,
            "publisher_id": 8,
            "publisher": long_identity,
            "projects": ["beta", "gamma"],
            "jti": "j2",
            "run_id": None,
        },
        "gamma": {
            "issuer": ISSUER,
            "publisher_id": None,
            "publisher": "gitlab:g/h:ci",
            "projects": ["beta", "gamma"],
            "jti": "j2",
            "run_id": None,
        },
    }
    assert events == sorted(
        (
            "mint",
            f"publisher:{d['publisher']}"[:ACTOR_LENGTH],
            at(AT),
            project,
            json.dumps(d, sort_keys=True),
        )
        for project, d in details.items()
    )
    assert all(e[2].tzinfo == UTC for e in events)  # type: ignore[attr-defined]


async def test_one_record_postgres_refuses_fails_its_whole_batch(pg_store: SqlStore) -> None:
    # The caller (the mint journal) then writes the batch one record at a time. SQLite
    # keeps no length, so this is PostgreSQL's alone.
    too_long = record("j2", [[1, "x" * 300, "i", "r"]])
    with pytest.raises(DBAPIError) as refused:
        async with pg_store.transaction() as tx:
            await tx.record_mints([record("j1", [[1, "alpha", "i", "r"]]), too_long])
    assert refused.value.orig.sqlstate == "22001"  # type: ignore[union-attr]
    assert await trail(pg_store) == ([], [])


async def test_a_record_written_twice_meets_the_unique_key(store: SqlStore) -> None:
    once = record("j1", [[1, "alpha", "i", "r"]])
    async with store.transaction() as tx:
        await tx.record_mints([once])
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await tx.record_mints([once])
    events, tokens = await trail(store)
    assert (len(events), len(tokens)) == (1, 1)
