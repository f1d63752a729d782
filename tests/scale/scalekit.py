"""What the scale tests share: a migrated database seeded with a small synthetic registry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from store.store_fixtures import Database

from service.issuers import Issuers, load_issuers
from service.store import migrate
from service.trust.seed import Plan, Seeded, issuer_tables, render_issuers, seed


def quiet(done: int, total: int, what: str) -> None:
    pass


async def seeded(database: Database, plan: Plan) -> Seeded:
    engine = database.engine()
    try:
        await migrate.upgrade(engine)
        return await seed(engine, plan, quiet)
    finally:
        await engine.dispose()


def bench_issuers(count: int, tmp: Any) -> Issuers:
    """The K issuers a plan names, loaded through issuers.toml as `serve` loads them."""
    path = tmp / "issuers.toml"
    path.write_text(render_issuers(issuer_tables(count)), encoding="utf-8")
    return load_issuers(path, audience="mintgate", leeway=30)


class Statements:
    """Every statement (and its parameters) an engine sends, as the driver receives it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.sent: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        self.sent.append((statement, params))

    def matching(self, fragment: str) -> list[tuple[str, Any]]:
        return [(s, p) for s, p in self.sent if fragment in s]
