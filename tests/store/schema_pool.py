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

# A schema's structure as the catalogs hold it: its relations (by OID) with their columns,
# defaults, constraints, indexes (valid or not) and triggers (enabled or not), its functions,
# and every object created in it. Each lookup goes through a catalog index, so the check
# stays cheap however bloated the catalogs are (autovacuum may be off: every test that
# creates and drops a schema leaves dead rows in pg_class and pg_attribute behind).
_FINGERPRINT = """
SELECT md5(string_agg(item, E'\n' ORDER BY item)) FROM (
SELECT concat_ws(' ', 'rel', c.oid, c.relname, c.relnamespace, c.relkind, c.relpersistence,
                 c.relrowsecurity, c.relnatts, c.relchecks, c.relhastriggers, c.reltype)
  FROM pg_class c WHERE c.oid = ANY(CAST(:relations AS oid[]))
UNION ALL
SELECT concat_ws(' ', 'col', a.attrelid, a.attname, a.attnum, a.atttypid, a.atttypmod,
                 a.attnotnull, a.atthasdef, a.attidentity, a.attgenerated, a.attisdropped)
  FROM pg_attribute a WHERE a.attrelid = ANY(CAST(:relations AS oid[])) AND a.attnum > 0
UNION ALL
SELECT concat_ws(' ', 'def', d.oid, d.adrelid, d.adnum, d.adbin)
  FROM pg_attrdef d WHERE d.adrelid = ANY(CAST(:relations AS oid[]))
UNION ALL
SELECT concat_ws(' ', 'con', k.oid, k.conname, k.contype, k.conrelid, k.confrelid, k.conkey,
                 k.confkey, k.confupdtype, k.confdeltype, k.condeferrable, k.convalidated,
                 k.conbin)
  FROM pg_constraint k WHERE k.conrelid = ANY(CAST(:relations AS oid[]))
UNION ALL
SELECT concat_ws(' ', 'idx', i.indexrelid, i.indrelid, i.indkey, i.indclass, i.indoption,
                 i.indisunique, i.indisvalid, i.indisready, i.indexprs, i.indpred)
  FROM pg_index i WHERE i.indrelid = ANY(CAST(:relations AS oid[]))
UNION ALL
SELECT concat_ws(' ', 'trg', t.oid, t.tgrelid, t.tgname, t.tgfoid, t.tgtype, t.tgenabled,
                 t.tgattr, t.tgqual)
  FROM pg_trigger t WHERE t.tgrelid = ANY(CAST(:relations AS oid[]))
UNION ALL
SELECT concat_ws(' ', 'fn', p.oid, p.proname, p.proargtypes, p.prorettype, md5(p.prosrc))
  FROM pg_proc p WHERE p.pronamespace = CAST(:schema AS regnamespace)
UNION ALL
SELECT concat_ws(' ', 'dep', d.classid, d.objid, d.objsubid, d.deptype)
  FROM pg_depend d
 WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = CAST(:schema AS regnamespace)
) AS s(item)
"""


async def fingerprint(conn: AsyncConnection, schema: str, relations: list[int]) -> str:
    # Estimates from bloated catalogs make the planner JIT-compile this small query.
    await conn.execute(text("SET LOCAL jit = off"))
    found = await conn.scalar(text(_FINGERPRINT), {"schema": schema, "relations": relations})
    return str(found)


async def relations(conn: AsyncConnection, schema: str) -> list[int]:
    found = await conn.scalars(
        text("SELECT oid FROM pg_class WHERE relnamespace = CAST(:schema AS regnamespace)"),
        {"schema": schema},
    )
    return [int(oid) for oid in found]


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

    relations: list[int]
    fingerprint: str
    tables: list[str]
    seeds: dict[str, str]  # the rows the migrations wrote, by table (alembic_version too)
    sequences: dict[str, tuple[int, bool]]

    @classmethod
    async def read(cls, conn: AsyncConnection, schema: str) -> _Migrated:
        names = await tables(conn, schema)
        seeds = {name: await rows(conn, schema, name) for name in names}
        oids = await relations(conn, schema)
        return cls(
            relations=oids,
            fingerprint=await fingerprint(conn, schema, oids),
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
            self._migrated[schema] = _Migrated([], "", tables=[], seeds={}, sequences={})
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
        if await fingerprint(conn, schema, migrated.relations) != migrated.fingerprint:
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
