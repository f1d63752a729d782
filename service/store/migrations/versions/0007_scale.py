"""Registry-scale indexes (issue 14), built online on PostgreSQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

The foreign keys to users (trusted_publishers.created_by_user_id) and to
trusted publishers (pending_publishers.publisher_id) are ON DELETE SET NULL:
without an index, deleting a user or a publisher scans the whole table.
trusted_publishers is the table that reaches millions of rows, so on
PostgreSQL the indexes are built with CREATE INDEX CONCURRENTLY, which takes
no lock that blocks the exchange's reads or its last-use UPDATE. That cannot
run in a transaction: the autocommit block commits what ran before it (see
service/store/migrate.py). A concurrent build that failed leaves an INVALID
index behind; running the migration again drops it and builds it afresh.
A small table (under ONLINE_FROM_ROWS rows), and SQLite, build plainly: that
takes milliseconds, and a concurrent build would first wait for every open
transaction in the database.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: tuple[tuple[str, str, str], ...] = (
    ("ix_trusted_publishers_created_by_user_id", "trusted_publishers", "created_by_user_id"),
    ("ix_pending_publishers_publisher_id", "pending_publishers", "publisher_id"),
)


# Below this many rows a plain build takes milliseconds under a brief SHARE lock,
# while a concurrent one first waits for every open transaction in the database.
ONLINE_FROM_ROWS = 10_000


def _online(table: str) -> bool:
    """Build this table's index concurrently: PostgreSQL, and a table big enough to matter."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    # `table` is one of INDEXES' literal names, never input.
    sample = f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT {ONLINE_FROM_ROWS}) AS rows"  # noqa: S608
    return bool(bind.execute(text(sample)).scalar_one() >= ONLINE_FROM_ROWS)


def _invalid(name: str) -> bool:
    """A leftover of a failed concurrent build, in the schema search_path finds first."""
    if op.get_bind().dialect.name != "postgresql":
        return False
    found = op.get_bind().execute(
        text(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.oid = to_regclass(:name)"
        ),
        {"name": name},
    )
    return bool(found.scalar())


def upgrade() -> None:
    for name, table, column in INDEXES:
        if not _online(table):
            if _invalid(name):
                op.drop_index(name, table_name=table)
            op.create_index(name, table, [column])
            continue
        with op.get_context().autocommit_block():
            if _invalid(name):
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
            op.create_index(name, table, [column], postgresql_concurrently=True, if_not_exists=True)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        if not _online(table):
            op.drop_index(name, table_name=table)
            continue
        with op.get_context().autocommit_block():
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
