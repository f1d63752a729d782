"""Trusted publishers, pending publishers, API token records, the trusted-publishing-only switch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Written out by hand from models_publishing.py, with plain column types.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def _publisher_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("lookup_key", sa.String(255), nullable=False),
        sa.Column("identity", sa.String(512), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("config", JSON, nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        # server_default: existing projects keep accepting API tokens.
        batch.add_column(
            sa.Column(
                "trusted_publishing_only", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    t = "trusted_publishers"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        *_publisher_columns(),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("last_run_id", sa.String(255), nullable=True),
        _fk(t, "project_id", "projects", "CASCADE"),
        _fk(t, "created_by_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint(
            "project_id", "fingerprint", name=op.f(f"uq_{t}_project_id_fingerprint")
        ),
    )
    op.create_index("ix_trusted_publishers_issuer_lookup", t, ["issuer", "lookup_key"])
    t = "pending_publishers"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_name", sa.String(255), nullable=False),
        sa.Column("normalized_name", sa.String(255), nullable=False),
        *_publisher_columns(),
        sa.Column("created_by_user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("invalidated_at", TIME, nullable=True),
        sa.Column("reified_at", TIME, nullable=True),
        sa.Column("publisher_id", sa.Integer(), nullable=True),
        _fk(t, "created_by_user_id", "users", "CASCADE"),
        _fk(t, "publisher_id", "trusted_publishers", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint(
            "normalized_name", "fingerprint", name=op.f(f"uq_{t}_normalized_name_fingerprint")
        ),
    )
    op.create_index("ix_pending_publishers_issuer_lookup", t, ["issuer", "lookup_key"])
    op.create_index(op.f(f"ix_{t}_normalized_name"), t, ["normalized_name"])
    op.create_index(op.f(f"ix_{t}_created_by_user_id"), t, ["created_by_user_id"])
    t = "api_tokens"
    op.create_table(
        t,
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("projects", JSON, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        _fk(t, "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
    )
    op.create_index(op.f(f"ix_{t}_user_id"), t, ["user_id"])


def downgrade() -> None:
    for t in ("api_tokens", "pending_publishers", "trusted_publishers"):
        op.drop_table(t)
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("trusted_publishing_only")
