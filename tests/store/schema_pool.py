"""Migrated PostgreSQL schemas, reused from one test to the next.

Creating, migrating and dropping a schema per test cost about 0.3 s, more than most
store tests spend on their own work. A pooled schema is migrated once by Alembic, as
a fresh one is; before it is handed out again its rows are deleted, the rows the
migrations wrote themselves are put back and its sequences rewound, so it reads
exactly as a fresh migration (tests/store/test_store_schema_pool.py compares the two).
A schema whose structure a test changed, or whose Alembic revision moved, is
dropped, never reused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.store import migrate
from service.store.engine import create_engine

# Every catalog entry that makes up a schema's structure, one line each: relations,
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
    rows = await conn.scalars(
        text(f"SELECT item FROM pg_namespace ns, LATERAL ({_STRUCTURE}) AS s(item)"  # noqa: S608
             " WHERE ns.nspname = :schema"),
        {"schema": schema},
    )  # fmt: skip
    return sorted(row.replace(f"{schema}.", "") for row in rows)


async def tables(conn: AsyncConnection, schema: str) -> list[str]:
    found = await conn.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"),
        {"schema": schema},
    )
    return list(found)


async def rows(conn: AsyncConnection, schema: str, table: str) -> str:
    """Every row of a table as one JSON array, in a stable order."""
    every = "SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text"
    return str(await conn.scalar(text(f'{every} FROM "{schema}"."{table}" t')))


async def sequences(conn: AsyncConnection, schema: str) -> dict[str, tuple[int, bool]]:
    """Where each sequence stands: the value setval() takes back, and whether it was used."""
    names = await conn.scalars(
        text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = :schema ORDER BY sequencename"
        ),
        {"schema": schema},
    )
    found = {}
    for name in names.all():
        state = (
            await conn.execute(text(f'SELECT last_value, is_called FROM "{schema}"."{name}"'))  # noqa: S608
        ).one()
        found[name] = (int(state[0]), bool(state[1]))
    return found


@dataclass(frozen=True)
class _Migrated:
    """A schema as Alembic left it, taken once right after the migration."""

    structure: list[str]
    tables: list[str]
    seeds: dict[str, str]  # the rows the migrations wrote, by table (alembic_version too)
    sequences: dict[str, tuple[int, bool]]

    @classmethod
    async def read(cls, conn: AsyncConnection, schema: str) -> _Migrated:
        names = await tables(conn, schema)
        seeds = {name: await rows(conn, schema, name) for name in names}
        return cls(
            structure=await structure(conn, schema),
            tables=names,
            seeds={name: found for name, found in seeds.items() if found != "[]"},
            sequences=await sequences(conn, schema),
        )


class SchemaPool:
    """Schemas in the database at `url`, migrated to head, each lent to one test at a time."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._migrated: dict[str, _Migrated] = {}
        self._free: list[str] = []

    async def take(self) -> str:
        admin = create_engine(self.url)
        try:
            while self._free:
                schema = self._free.pop()
                async with admin.connect() as conn:
                    if await self._reset(conn, schema):
                        return schema
                await self._drop(schema)
            return await self._create()
        finally:
            await admin.dispose()

    def give_back(self, schema: str) -> None:
        self._free.append(schema)

    @property
    def schemas(self) -> list[str]:
        return list(self._migrated)

    async def drop_all(self) -> None:
        for schema in list(self._migrated):
            await self._drop(schema)
        self._free.clear()

    async def _create(self) -> str:
        schema = self.prefix + uuid.uuid4().hex[:12]
        admin = create_engine(self.url)
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            # Known before it is migrated, so drop_all removes it even if the migration fails.
            self._migrated[schema] = _Migrated(structure=[], tables=[], seeds={}, sequences={})
            engine = create_engine(self.url, **search_path(schema))
            try:
                await migrate.upgrade(engine)  # as `mintgate db upgrade` does
            finally:
                await engine.dispose()
            async with admin.connect() as conn:
                self._migrated[schema] = await _Migrated.read(conn, schema)
        finally:
            await admin.dispose()
        return schema

    async def _reset(self, conn: AsyncConnection, schema: str) -> bool:
        """Back to the migrated state, in one transaction; False if the structure moved."""
        migrated = self._migrated[schema]
        # A connection a test left holding a lock would stall the reset: fail instead.
        await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        if await structure(conn, schema) != migrated.structure:
            await conn.rollback()
            return False
        if await rows(conn, schema, "alembic_version") != migrated.seeds["alembic_version"]:
            await conn.rollback()
            return False
        # Replica mode fires no triggers: foreign keys are not checked while every table
        # empties in any order, and deleting publishers records no trust change.
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in migrated.tables:
            if table == "alembic_version":
                continue
            await conn.execute(text(f'DELETE FROM "{schema}"."{table}"'))  # noqa: S608
            if table in migrated.seeds:
                await conn.execute(
                    text(
                        f'INSERT INTO "{schema}"."{table}"'  # noqa: S608
                        f' SELECT * FROM json_populate_recordset(NULL::"{schema}"."{table}",'
                        " CAST(:rows AS json))"
                    ),
                    {"rows": migrated.seeds[table]},
                )
        await conn.execute(
            text(
                "SELECT count(setval(CAST(name AS regclass), value, called))"
                " FROM unnest(CAST(:names AS text[]), CAST(:values AS bigint[]),"
                " CAST(:called AS boolean[])) AS s(name, value, called)"
            ),
            {
                "names": [f'"{schema}"."{name}"' for name in migrated.sequences],
                "values": [value for value, _ in migrated.sequences.values()],
                "called": [called for _, called in migrated.sequences.values()],
            },
        )
        await conn.commit()
        return True

    async def _drop(self, schema: str) -> None:
        self._migrated.pop(schema, None)
        admin = create_engine(self.url)
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await admin.dispose()


def search_path(schema: str) -> dict[str, object]:
    """Engine options that put everything (tables, alembic_version) in `schema`."""
    return {"connect_args": {"server_settings": {"search_path": schema}}}
