"""The pooled schemas store tests run on read exactly as a fresh migration (schema_pool.py).

If a reset left a row, a sequence's position or a changed structure behind, a
store test would pass or fail because of the test that ran before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from store.schema_pool import SchemaPool, rows, search_path, sequences, tables
from store.store_fixtures import PG_URL, SCHEMA_PREFIX, Database

from service.store import open_store
from service.store.engine import create_engine

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# Every catalog entry that makes up a schema's structure, deparsed, one line each: relations,
# columns with type, default and nullability, constraints, indexes (valid or not),
# triggers (enabled or not), functions and sequence parameters.
_STRUCTURE = """
SELECT concat_ws(' ', 'rel', c.relname, c.relkind, c.relpersistence, c.relrowsecurity)
  FROM pg_class c WHERE c.relnamespace = ns.oid
UNION ALL
SELECT concat_ws(' ', 'col', c.relname, a.attname, a.attnum,
                 format_type(a.atttypid, a.atttypmod), a.attnotnull,
                 coalesce(pg_get_expr(d.adbin, d.adrelid), '-'))
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = ns.oid AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT concat_ws(' ', 'con', c.relname, k.conname, pg_get_constraintdef(k.oid))
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
 WHERE k.connamespace = ns.oid
UNION ALL
SELECT concat_ws(' ', 'idx', pg_get_indexdef(i.indexrelid), i.indisvalid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = ns.oid
UNION ALL
SELECT concat_ws(' ', 'trg', pg_get_triggerdef(t.oid), t.tgenabled)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = ns.oid AND NOT t.tgisinternal
UNION ALL
SELECT concat_ws(' ', 'fn', p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc))
  FROM pg_proc p WHERE p.pronamespace = ns.oid
UNION ALL
SELECT concat_ws(' ', 'seq', c.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement,
                 s.seqmin, s.seqmax, s.seqcycle)
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
 WHERE c.relnamespace = ns.oid
"""


async def structure(conn: AsyncConnection, schema: str) -> list[str]:
    """The schema's structure, sorted, with its own name taken out so two schemas compare."""
    found = await conn.scalars(
        text(f"SELECT item FROM pg_namespace ns, LATERAL ({_STRUCTURE}) AS s(item)"  # noqa: S608
             " WHERE ns.nspname = :schema"),
        {"schema": schema},
    )  # fmt: skip
    return sorted(row.replace(f"{schema}.", "") for row in found)


@pytest.fixture
async def pool() -> AsyncIterator[SchemaPool]:
    made = SchemaPool(PG_URL, SCHEMA_PREFIX)
    yield made
    await made.drop_all()


async def _run(schema: str, *statements: str) -> None:
    engine = create_engine(PG_URL, **search_path(schema))
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _state(schema: str) -> dict[str, Any]:
    """Everything a test could observe: structure, every row, every sequence."""
    engine = create_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            names = await tables(conn, schema)
            return {
                "structure": await structure(conn, schema),
                "rows": {name: await rows(conn, schema, name) for name in names},
                "sequences": await sequences(conn, schema),
            }
    finally:
        await engine.dispose()


async def test_a_reused_schema_reads_as_a_freshly_migrated_one(
    postgres: Database, pool: SchemaPool
) -> None:
    fresh = await postgres.migrated_store()  # Alembic from nothing, as for a new database
    await fresh.close()
    schema = await pool.take()
    store = await open_store(PG_URL, **search_path(schema))
    try:
        async with store.transaction() as tx:
            user = await tx.add_user("alice", "alice@example.org", "hash", NOW)
            project = await tx.add_project("sampleproject", "sampleproject", NOW)
            await tx.add_project_role(project.id, user.id, "owner", NOW)
    finally:
        await store.close()
    # The seeded row changed and every sequence moved, used or not by the store above.
    await _run(
        schema,
        "UPDATE trust_state SET version = version + 7, trimmed_through = 3",
        "SELECT nextval(format('%I.%I', schemaname, sequencename)::regclass)"
        " FROM pg_sequences WHERE schemaname = current_schema()",
    )
    used = await _state(schema)
    expected = await _state(postgres.options["connect_args"]["server_settings"]["search_path"])
    assert used["rows"] != expected["rows"]
    assert used["sequences"] != expected["sequences"]

    pool.give_back(schema)
    assert await pool.take() == schema
    assert await _state(schema) == expected


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("ALTER TABLE users ADD COLUMN nickname text", id="column-added"),
        pytest.param("ALTER TABLE users ALTER COLUMN email DROP NOT NULL", id="null-allowed"),
        pytest.param("DROP INDEX ix_audit_events_subject_user_id", id="index-dropped"),
        pytest.param("ALTER TABLE projects DISABLE TRIGGER USER", id="triggers-disabled"),
        pytest.param("CREATE TABLE leftovers (id int)", id="table-added"),
        pytest.param("UPDATE alembic_version SET version_num = '0012'", id="revision-moved"),
    ],
)
async def test_a_schema_whose_structure_a_test_changed_is_dropped_not_reused(
    pool: SchemaPool, change: str
) -> None:
    schema = await pool.take()
    await _run(schema, change)
    pool.give_back(schema)

    assert await pool.take() != schema
    assert schema not in pool.schemas
    engine = create_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            gone = await conn.scalar(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :schema"),
                {"schema": schema},
            )
    finally:
        await engine.dispose()
    assert gone == 0
