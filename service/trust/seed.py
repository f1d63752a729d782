"""A synthetic registry for scale benchmarks: N projects, M publishers over K issuers.

`mintgate bench seed` (commands/bench.py) and bench/scale_bench.py fill a
PostgreSQL database with it. Every publisher goes through `publisher_spec`,
the API's own validation, so a seeded row is exactly what an owner's would
be; only the writing is bulk (COPY, in batches, each its own transaction).

Seeding tops up: names and tables are numbered, and what is already there
(projects named `bench-project-<i>`, publishers with source "bench") is
counted and skipped, so 10 -> 10,000 -> 1,000,000 grows one table.
Publisher i belongs to project i mod N and to issuer i mod K, and was added
by bench user (i mod N) / 10 (users are seeded too). Issuer 0 is
GitHub's; the others are self-managed GitLab instances (odd) and custom
issuers (even), the two kinds an operator configures by the thousand.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.issuers import Issuer, Issuers
from service.publishers import github
from service.store import migrate
from service.trust.tables import publisher_spec

GITHUB: Final = github.DEFAULT_ISSUER
PROJECT_PREFIX: Final = "bench-project-"
USER_PREFIX: Final = "bench-user-"
# Each bench user "added" the publishers of this many projects (created_by_user_id).
PROJECTS_PER_USER: Final = 10
# Not an argon2 hash: verification fails, so a bench user can never sign in.
NO_PASSWORD: Final = "!bench-seeded"
SOURCE: Final = "bench"
BATCH: Final = 20_000
MAX_ROWS: Final = 10_000_000
MAX_ISSUERS: Final = 100_000

# (done, total, what): called after each batch, and once with done == total.
Progress = Callable[[int, int, str], None]

_PUBLISHER_COLUMNS: Final = (
    "project_id", "provider", "issuer", "lookup_key", "identity", "fingerprint", "config",
    "source", "created_by_user_id", "created_at",
)  # fmt: skip


class SeedError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Plan:
    projects: int
    publishers: int
    issuers: int

    def problem(self) -> str | None:
        """Why this plan cannot be seeded, or None."""
        if not 1 <= self.projects <= MAX_ROWS:
            return f"--projects must be 1..{MAX_ROWS:,}"
        if not 0 <= self.publishers <= MAX_ROWS:
            return f"--publishers must be 0..{MAX_ROWS:,}"
        if not 1 <= self.issuers <= MAX_ISSUERS:
            return f"--issuers must be 1..{MAX_ISSUERS:,}"
        return None


@dataclass(frozen=True, slots=True)
class Seeded:
    projects_added: int
    publishers_added: int
    projects: int
    publishers: int
    seconds: float


def issuer_tables(count: int) -> list[dict[str, Any]]:
    """The K issuers a plan spreads publishers over, as issuers.toml tables."""
    tables: list[dict[str, Any]] = [{"url": GITHUB, "provider": "github"}]
    for i in range(1, count):
        if i % 2:
            tables.append({"url": f"https://gitlab-{i}.bench.example", "provider": "gitlab"})
        else:
            url = f"https://ci-{i}.bench.example/oidc"
            tables.append({"url": url, "provider": "custom", "lookup": "repository"})
    return tables


def render_issuers(tables: list[dict[str, Any]]) -> str:
    """issuers.toml text for these tables (string and list-of-string values)."""
    lines = []
    for table in tables:
        lines.append("[[issuer]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in table.items())
        lines.append("")
    return "\n".join(lines)


def _issuers(tables: list[dict[str, Any]]) -> Issuers:
    # Only for validating publisher tables: algorithms and audience play no part.
    return Issuers(
        {
            t["url"]: Issuer(
                url=t["url"],
                provider=t["provider"],
                algorithms=frozenset({"RS256"}),
                audience="mintgate",
                leeway=30,
                lookup=t.get("lookup"),
            )
            for t in tables
        }
    )


def publisher_table(i: int, issuer: Mapping[str, Any]) -> dict[str, Any]:
    """Publisher number i, for its issuer: a distinct repository (lookup key) per publisher."""
    url, provider = issuer["url"], issuer["provider"]
    if provider == "github":
        return {
            "provider": "github",
            "repository": f"bench-org-{i}/repo-{i}",
            "repository_owner_id": str(1_000_000 + i),
            "workflow": "release.yml",
        }
    if provider == "gitlab":
        return {
            "provider": "gitlab",
            "issuer": url,
            "namespace": f"bench-group-{i}",
            "project": f"repo-{i}",
            "ci_config_file": ".gitlab-ci.yml",
        }
    return {
        "provider": "custom",
        "issuer": url,
        "lookup": "repository",
        "claims": [
            {"claim": "repository", "casefold": f"bench-org-{i}/repo-{i}"},
            {"claim": "ref", "glob": "refs/tags/v*"},
        ],
    }


async def seed(engine: AsyncEngine, plan: Plan, progress: Progress) -> Seeded:
    """Top the database up to `plan`. Raises SeedError (not PostgreSQL, not migrated)."""
    problem = plan.problem()
    if problem is not None:
        raise SeedError(problem)
    if engine.dialect.name != "postgresql":
        raise SeedError("bench seed needs PostgreSQL (it loads with COPY)")
    found, wanted = await migrate.current(engine), migrate.head()
    if found != wanted:
        raise SeedError(f"the database is at revision {found or 'none'}, not {wanted}:"
                        " run `mintgate db upgrade` first")  # fmt: skip
    started = time.perf_counter()
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        pg = await _driver(conn)
        projects_added = await _top_up(
            pg, "projects", PROJECT_PREFIX, plan.projects, progress,
            ("name", "normalized_name", "created_at", "two_factor_required",
             "trusted_publishing_only"),
            lambda name: (name, name, now, False, False),
        )  # fmt: skip
        await _top_up(
            pg, "users", USER_PREFIX, _users(plan), progress,
            ("username", "email", "password_hash", "created_at"),
            lambda name: (name, f"{name}@bench.invalid", NO_PASSWORD, now),
        )  # fmt: skip
        projects = await _ids(pg, "projects", PROJECT_PREFIX)
        users = await _ids(pg, "users", USER_PREFIX)
        have = await pg.fetchval(
            "SELECT count(*) FROM trusted_publishers WHERE source = $1", SOURCE
        )
        added = max(0, plan.publishers - have)
        rows = _publisher_rows(plan, projects, users, have, now)
        await _copy(
            pg, "trusted_publishers", _PUBLISHER_COLUMNS, rows, added, "publishers", progress
        )
        # Fresh statistics: the planner must know the tables are big before the first lookup.
        for table in ("projects", "users", "trusted_publishers"):
            await pg.execute(f"ANALYZE {table}")
        total_projects = await pg.fetchval("SELECT count(*) FROM projects")
        publishers = await pg.fetchval("SELECT count(*) FROM trusted_publishers")
    seconds = time.perf_counter() - started
    return Seeded(projects_added, added, total_projects, publishers, seconds)


def _users(plan: Plan) -> int:
    return -(-plan.projects // PROJECTS_PER_USER)


async def _driver(conn: AsyncConnection) -> Any:
    # The asyncpg connection under SQLAlchemy's: COPY is asyncpg's, not the DB-API's.
    raw = await conn.get_raw_connection()
    return raw.driver_connection


# Per table: its name column, how many bench rows it holds, their ids by name.
_NAME: Final = {"projects": "normalized_name", "users": "username"}
_COUNT: Final = {
    "projects": "SELECT count(*) FROM projects WHERE normalized_name LIKE $1",
    "users": "SELECT count(*) FROM users WHERE username LIKE $1",
}
_IDS: Final = {
    "projects": "SELECT id, normalized_name FROM projects WHERE normalized_name LIKE $1",
    "users": "SELECT id, username FROM users WHERE username LIKE $1",
}


async def _top_up(
    pg: Any,
    table: str,
    prefix: str,
    wanted: int,
    progress: Progress,
    columns: tuple[str, ...],
    row: Callable[[str], tuple[Any, ...]],
) -> int:
    """Rows named prefix0 .. prefix<wanted-1>, adding those missing; how many were added."""
    have = int(await pg.fetchval(_COUNT[table], prefix + "%"))
    rows = (row(f"{prefix}{i}") for i in range(have, wanted))
    await _copy(pg, table, columns, rows, max(0, wanted - have), table, progress)
    return max(0, wanted - have)


async def _ids(pg: Any, table: str, prefix: str) -> list[int]:
    """The ids of prefix0, prefix1, ... in order."""
    records = await pg.fetch(_IDS[table], prefix + "%")
    by_number = {int(r[_NAME[table]][len(prefix) :]): r["id"] for r in records}
    return [by_number[i] for i in range(len(by_number))]


def _publisher_rows(
    plan: Plan, projects: list[int], users: list[int], start: int, now: datetime
) -> Iterator[tuple[Any, ...]]:
    tables = issuer_tables(plan.issuers)
    issuers = _issuers(tables)
    for i in range(start, plan.publishers):
        _, spec = publisher_spec(publisher_table(i, tables[i % len(tables)]), issuers)
        project = i % len(projects)
        yield (
            projects[project], spec.provider, spec.issuer, spec.lookup_key, spec.identity,
            spec.fingerprint, json.dumps(dict(spec.config)), SOURCE,
            users[project // PROJECTS_PER_USER % len(users)], now,
        )  # fmt: skip


async def _copy(
    pg: Any,
    table: str,
    columns: tuple[str, ...],
    rows: Iterator[tuple[Any, ...]],
    total: int,
    what: str,
    progress: Progress,
) -> None:
    """COPY in batches; the next batch is built (in a thread) while PostgreSQL takes the last."""
    done, writing, size = 0, None, 0
    while True:
        batch = await asyncio.to_thread(lambda: list(itertools.islice(rows, BATCH)))
        if writing is not None:
            await writing
            done += size
            if batch:
                progress(done, total, what)
        if not batch:
            break
        writing = asyncio.ensure_future(
            pg.copy_records_to_table(table, records=batch, columns=columns)
        )
        size = len(batch)
    progress(done, done, what)
