"""`mintgate bench seed`: a synthetic registry in PostgreSQL, in bulk, topped up on demand."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from scalekit import bench_issuers, quiet, seeded
from sqlalchemy import text
from store.store_fixtures import PG_URL, Database

from service.cli import main
from service.commands.bench import ProgressBar
from service.store import open_store
from service.store.engine import create_engine
from service.trust.seed import Plan, SeedError, issuer_tables, publisher_table, seed
from service.trust.tables import publisher_spec

pytestmark = pytest.mark.anyio


async def _count(database: Database, sql: str) -> list[tuple[object, ...]]:
    engine = database.engine()
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def test_seed_fills_projects_and_publishers_spread_over_issuers(postgres: Database) -> None:
    done = await seeded(postgres, Plan(projects=1_000, publishers=1_000, issuers=4))
    assert (done.projects_added, done.publishers_added) == (1_000, 1_000)
    assert (done.projects, done.publishers) == (1_000, 1_000)

    by_issuer = await _count(
        postgres, "SELECT provider, count(*) FROM trusted_publishers GROUP BY provider ORDER BY 1"
    )
    # Issuer 0 is GitHub's, odd ones self-managed GitLab, even ones custom.
    assert by_issuer == [("custom", 250), ("github", 250), ("gitlab", 500)]
    distinct = await _count(
        postgres, "SELECT count(DISTINCT (issuer, lookup_key)) FROM trusted_publishers"
    )
    assert distinct == [(1_000,)]
    # Added by owners, as real publishers are: ten projects per bench user, who cannot sign in.
    owners = await _count(
        postgres,
        "SELECT count(DISTINCT created_by_user_id), count(*) FILTER (WHERE created_by_user_id"
        " IS NULL), min(u.password_hash) FROM trusted_publishers t LEFT JOIN users u"
        " ON u.id = t.created_by_user_id",
    )
    assert owners == [(100, 0, "!bench-seeded")]


async def test_seed_tops_up_to_the_plan_and_adds_nothing_twice(postgres: Database) -> None:
    await seeded(postgres, Plan(projects=100, publishers=300, issuers=2))
    again = await seeded(postgres, Plan(projects=150, publishers=500, issuers=2))
    assert (again.projects_added, again.publishers_added) == (50, 200)
    same = await seeded(postgres, Plan(projects=150, publishers=500, issuers=2))
    assert (same.projects_added, same.publishers_added) == (0, 0)
    assert (same.projects, same.publishers) == (150, 500)


async def test_seeded_rows_are_what_the_api_would_store(postgres: Database, tmp_path: Path) -> None:
    await seeded(postgres, Plan(projects=10, publishers=30, issuers=3))
    issuers = bench_issuers(3, tmp_path)
    tables = issuer_tables(3)
    store = await open_store(postgres.url, **postgres.options)
    try:
        async with store.transaction() as tx:
            for number in range(30):
                _, expected = publisher_spec(publisher_table(number, tables[number % 3]), issuers)
                [record] = await tx.publishers_for(expected.issuer, expected.lookup_key)
                assert record.spec == expected
                assert record.project == f"bench-project-{number % 10}"
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (Plan(projects=0, publishers=1, issuers=1), "--projects must be"),
        (Plan(projects=1, publishers=-1, issuers=1), "--publishers must be"),
        (Plan(projects=1, publishers=1, issuers=0), "--issuers must be"),
        (Plan(projects=1, publishers=1, issuers=100_001), "--issuers must be"),
    ],
)
async def test_seed_refuses_a_plan_out_of_range(
    postgres: Database, plan: Plan, message: str
) -> None:
    engine = postgres.engine()
    try:
        with pytest.raises(SeedError, match=message):
            await seed(engine, plan, quiet)
    finally:
        await engine.dispose()


async def test_seed_refuses_an_unmigrated_database_and_sqlite(
    postgres: Database, tmp_path: Path
) -> None:
    plan = Plan(projects=1, publishers=1, issuers=1)
    for engine, message in (
        (postgres.engine(), "run `mintgate db upgrade` first"),
        (create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}"), "needs PostgreSQL"),
    ):
        try:
            with pytest.raises(SeedError, match=message):
                await seed(engine, plan, quiet)
        finally:
            await engine.dispose()


def test_progress_bar_redraws_one_line_and_ends_it() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)
    bar(500, 1_000, "publishers")
    bar(1_000, 1_000, "publishers")
    lines = out.getvalue().split("\r")[1:]
    assert lines[0].startswith("publishers [###############               ]  50% 500/1,000")
    assert lines[1].startswith("publishers [##############################] 100% 1,000/1,000")
    assert lines[1].endswith("/s\n")
    assert not lines[0].endswith("\n")


@pytest.fixture
def bench_database() -> Iterator[str]:
    """A database of its own, as the command's documentation asks for; dropped after."""
    name = "mintgate_test_seed_" + uuid.uuid4().hex[:8]
    admin = PG_URL.rsplit("/", 1)[0]

    async def ddl(statement: str) -> None:
        engine = create_engine(f"{admin}/test", isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(ddl(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin}/{name}"
    finally:
        asyncio.run(ddl(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_seed_command_migrated_database_writes_issuers_and_reports(
    bench_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MINTGATE_DATABASE_URL", bench_database)
    issuers_file = tmp_path / "bench-issuers.toml"
    argv = ["bench", "seed", "--projects", "200", "--publishers", "1000", "--issuers", "5"]

    assert main([*argv, "--write-issuers", str(issuers_file)]) == 1  # not migrated yet
    assert "run `mintgate db upgrade` first" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main([*argv, "--write-issuers", str(issuers_file)]) == 0
    captured = capsys.readouterr()
    assert "added 200 projects and 1,000 publishers" in captured.out
    assert "holds 200 projects and 1,000 trusted publishers" in captured.out
    assert "publishers [##############################] 100% 1,000/1,000" in captured.err
    # The written issuers are the ones the publishers name, loadable as configuration.
    loaded = bench_issuers(5, tmp_path)
    assert issuers_file.read_text() == (tmp_path / "issuers.toml").read_text()
    assert sorted(loaded[url].provider for url in loaded) == [
        "custom", "custom", "github", "gitlab", "gitlab"
    ]  # fmt: skip


def test_seed_command_refuses_a_bad_plan_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "seed", "--projects", "0", "--publishers", "1"]) == 2
    assert "--projects must be 1..10,000,000" in capsys.readouterr().err
