"""Finding a token's publishers is a keyed lookup, never a scan, in every trust store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scalekit import Statements, bench_issuers, seeded
from store.store_fixtures import Database

from service.store import open_store
from service.trust import Trusted
from service.trust.seed import GITHUB, Plan, issuer_tables, publisher_table
from service.trust.sql import SqlTrustStore
from service.trust.tables import publisher_spec
from service.trust.toml import TomlTrustStore

pytestmark = pytest.mark.anyio

AT = datetime(2026, 11, 25, tzinfo=UTC)


@dataclass
class Touches:
    count: int = 0


class CountingPublisher:
    """A publisher that counts every read of what an index is built from."""

    def __init__(self, issuer: str, key: str, touches: Touches) -> None:
        self._issuer, self._key, self._touches = issuer, key, touches

    @property
    def issuer(self) -> str:
        self._touches.count += 1
        return self._issuer

    @property
    def lookup_key(self) -> str:
        self._touches.count += 1
        return self._key


async def test_toml_lookup_reads_no_publisher_but_the_ones_it_returns() -> None:
    touches = Touches()
    trusted = [
        Trusted(f"p{i}", CountingPublisher(f"https://i{i % 7}", f"o/r{i}", touches))  # type: ignore[arg-type]
        for i in range(10_000)
    ]
    store = TomlTrustStore(trusted)
    touches.count = 0  # building the index reads them all, once

    found = await store.publishers_for("https://i2", "o/r9998")  # 9998 mod 7 == 2
    missing = await store.publishers_for("https://i3", "o/r9998")  # right key, other issuer

    assert [t.project for t in found] == ["p9998"]
    assert missing == ()
    assert touches.count == 0


async def test_postgres_plans_the_lookup_as_an_index_scan(
    postgres: Database, tmp_path: Path
) -> None:
    # Enough rows, with fresh statistics, that a scan would be the planner's own choice
    # if the index were missing.
    await seeded(postgres, Plan(projects=1_000, publishers=5_000, issuers=10))
    store = await open_store(postgres.url, **postgres.options)
    try:
        statements = Statements(store.engine)
        trust = SqlTrustStore(store, bench_issuers(10, tmp_path))
        found = await trust.publishers_for(GITHUB, "bench-org-4990/repo-4990")
        assert [t.project for t in found] == ["bench-project-990"]

        [(sql, params)] = statements.matching("FROM trusted_publishers")
        async with store.engine.connect() as conn:
            result = await conn.exec_driver_sql("EXPLAIN " + sql, params)
            plan = "\n".join(str(line) for line in result.scalars())
    finally:
        await store.close()
    assert "Seq Scan" not in plan, plan
    assert "ix_trusted_publishers_issuer_lookup" in plan, plan


async def test_sqlite_searches_the_lookup_index(tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'scale.sqlite3'}")
    issuers = bench_issuers(1, tmp_path)
    try:
        async with store.transaction() as tx:
            project = await tx.add_project("sampleproject", "sampleproject", AT)
            for i in range(50):
                _, spec = publisher_spec(publisher_table(i, issuer_tables(1)[0]), issuers)
                await tx.add_publisher(project.id, spec, source="api", created_by=None, now=AT)
        statements = Statements(store.engine)
        found = await SqlTrustStore(store, issuers).publishers_for(GITHUB, "bench-org-7/repo-7")
        assert len(found) == 1

        [(sql, params)] = statements.matching("FROM trusted_publishers")
        async with store.engine.connect() as conn:
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)).all()
    finally:
        await store.close()
    details = [str(row[-1]) for row in rows]
    assert any("USING INDEX ix_trusted_publishers_issuer_lookup" in d for d in details), details
    assert not any(d.startswith("SCAN trusted_publishers") for d in details), details
