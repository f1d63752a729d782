"""Staged releases (issue 13): staging policies, staged releases and files, approval challenges.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Written out by hand from models_staging.py, with plain column types.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OPEN = sa.text("status = 'staged'")
STATUSES = "'staged', 'approving', 'approved', 'rejected', 'expired'"


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    t = "staging_policies"
    op.create_table(
        t,
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("new_versions_only", sa.Boolean(), nullable=False),
        sa.Column("publishers", JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        _fk(t, "project_id", "projects", "CASCADE"),
        _fk(t, "updated_by_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("project_id", name=op.f(f"pk_{t}")),
    )
    t = "staged_releases"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("staged_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(50), nullable=True),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f(f"ck_{t}_status")),
        _fk(t, "project_id", "projects", "CASCADE"),
        _fk(t, "decided_by_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
    )
    op.create_index(op.f(f"ix_{t}_project"), t, ["project"])
    op.create_index(op.f(f"ix_{t}_expires_at"), t, ["expires_at"])
    op.create_index(
        "uq_staged_releases_open",
        t,
        ["project_id", "version"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    t = "staged_files"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(128), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("provenance", JSON, nullable=False),
        sa.Column("publishers", JSON, nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("staged_at", TIME, nullable=False),
        sa.Column("forwarded_at", TIME, nullable=True),
        _fk(t, "release_id", "staged_releases", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("release_id", "filename", name=op.f(f"uq_{t}_release_id_filename")),
    )
    t = "staging_challenges"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        _fk(t, "user_id", "users", "CASCADE"),
        _fk(t, "release_id", "staged_releases", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
    )
    op.create_index(op.f(f"ix_{t}_user_id"), t, ["user_id"])


def downgrade() -> None:
    for t in ("staging_challenges", "staged_files", "staged_releases", "staging_policies"):
        op.drop_table(t)
