"""The trust change feed replicas follow (issue 19).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Each process keeps an index of trusted publishers in memory (service/trust/index.py)
and must learn of every change within a second, removals included. Triggers, not
application code, write the feed, so no writer can forget to: the API and pages,
`publishers sync`, an exchange reifying a pending publisher, a project's state, a
deleted project's cascade. Every change bumps `trust_state.version` under that
row's lock, so versions commit in order and a reader that saw N missed nothing
below it. A mint's last-use write changes none of the watched columns and so
takes no lock.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column of trusted_publishers that a publisher's answer is built from: all but
# id, last_used_at and last_run_id (tests/store/test_trust_feed.py holds this to the table).
WATCHED = (
    "project_id",
    "provider",
    "issuer",
    "lookup_key",
    "identity",
    "fingerprint",
    "config",
    "source",
    "created_by_user_id",
    "created_at",
    "frozen_at",
    "stage_only",
    "repository_id",
)

_SQLITE_NOW = "CAST(strftime('%s', 'now') AS INTEGER)"
_SQLITE_BUMP = "UPDATE trust_state SET version = version + 1 WHERE id = 1;"


def _sqlite_insert(row: str) -> str:
    # `row` is NEW or OLD, from this module: no input reaches this text.
    return (
        "INSERT INTO trust_changes (version, issuer, lookup_key, changed_at)"  # noqa: S608
        f" SELECT version, {row}.issuer, {row}.lookup_key, {_SQLITE_NOW}"
        " FROM trust_state WHERE id = 1;"
    )


def _sqlite() -> list[str]:
    columns = ", ".join(WATCHED)
    return [
        "CREATE TRIGGER trust_publisher_inserted AFTER INSERT ON trusted_publishers"
        f" BEGIN {_SQLITE_BUMP} {_sqlite_insert('NEW')} END",
        "CREATE TRIGGER trust_publisher_deleted AFTER DELETE ON trusted_publishers"
        f" BEGIN {_SQLITE_BUMP} {_sqlite_insert('OLD')} END",
        f"CREATE TRIGGER trust_publisher_updated AFTER UPDATE OF {columns} ON trusted_publishers"
        f" BEGIN {_SQLITE_BUMP} {_sqlite_insert('OLD')} {_sqlite_insert('NEW')} END",
        "CREATE TRIGGER trust_project_state AFTER UPDATE OF state ON projects"  # noqa: S608
        " WHEN OLD.state IS NOT NEW.state"
        f" BEGIN {_SQLITE_BUMP}"
        " INSERT INTO trust_changes (version, issuer, lookup_key, changed_at)"
        f" SELECT s.version, p.issuer, p.lookup_key, {_SQLITE_NOW}"
        " FROM trust_state AS s, trusted_publishers AS p"
        " WHERE s.id = 1 AND p.project_id = NEW.id; END",
    ]


_PG_FUNCTION = """
CREATE FUNCTION mintgate_trust_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
    at bigint := extract(epoch FROM clock_timestamp())::bigint;
BEGIN
    UPDATE trust_state SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
    IF TG_TABLE_NAME = 'projects' THEN
        INSERT INTO trust_changes (version, issuer, lookup_key, changed_at)
            SELECT v, p.issuer, p.lookup_key, at FROM trusted_publishers AS p
            WHERE p.project_id = NEW.id;
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO trust_changes (version, issuer, lookup_key, changed_at)
            VALUES (v, OLD.issuer, OLD.lookup_key, at);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO trust_changes (version, issuer, lookup_key, changed_at)
            VALUES (v, NEW.issuer, NEW.lookup_key, at);
    END IF;
    RETURN NULL;
END
$$
"""


def _postgresql() -> list[str]:
    columns = ", ".join(WATCHED)
    return [
        _PG_FUNCTION,
        "CREATE TRIGGER trust_publisher_changed"
        f" AFTER INSERT OR DELETE OR UPDATE OF {columns} ON trusted_publishers"
        " FOR EACH ROW EXECUTE FUNCTION mintgate_trust_changed()",
        "CREATE TRIGGER trust_project_state AFTER UPDATE OF state ON projects"
        " FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)"
        " EXECUTE FUNCTION mintgate_trust_changed()",
    ]


def upgrade() -> None:
    op.create_table(
        "trust_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("trimmed_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_state")),
    )
    op.execute("INSERT INTO trust_state (id, version, trimmed_through) VALUES (1, 0, 0)")
    op.create_table(
        "trust_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("lookup_key", sa.String(255), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_changes")),
    )
    op.create_index("ix_trust_changes_version", "trust_changes", ["version"])
    statements = _postgresql() if op.get_bind().dialect.name == "postgresql" else _sqlite()
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trust_project_state ON projects")
        op.execute("DROP TRIGGER trust_publisher_changed ON trusted_publishers")
        op.execute("DROP FUNCTION mintgate_trust_changed()")
    else:
        for name in ("inserted", "deleted", "updated"):
            op.execute(f"DROP TRIGGER trust_publisher_{name}")
        op.execute("DROP TRIGGER trust_project_state")
    op.drop_index("ix_trust_changes_version", table_name="trust_changes")
    op.drop_table("trust_changes")
    op.drop_table("trust_state")
