"""Incident response (issue 21): frozen and stage-only publishers, project states, minted tokens.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

`trusted_publishers.frozen_at` and `.stage_only`, `projects.state`, and the
`minted_tokens` table the mint recorder writes (what a freeze revokes).
Existing rows are unfrozen, may publish, and are active (server defaults).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (SQLite's own, constant defaults): a batch rebuild
    # would reflect the tables these join, whose expression indexes reflection cannot read.
    op.add_column("trusted_publishers", sa.Column("frozen_at", TIME, nullable=True))
    op.add_column(
        "trusted_publishers",
        sa.Column("stage_only", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "projects", sa.Column("state", sa.String(16), nullable=False, server_default="active")
    )
    t = "minted_tokens"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("publisher_id", sa.Integer(), nullable=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("issued_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
    )
    op.create_index("ix_minted_tokens_publisher_id_expires_at", t, ["publisher_id", "expires_at"])
    op.create_index("ix_minted_tokens_repository_expires_at", t, ["repository", "expires_at"])
    op.create_index("ix_minted_tokens_expires_at", t, ["expires_at"])


def downgrade() -> None:
    op.drop_table("minted_tokens")
    # Plain DROP COLUMN (SQLite 3.35+): the columns are in no index or constraint.
    op.drop_column("projects", "state")
    op.drop_column("trusted_publishers", "stage_only")
    op.drop_column("trusted_publishers", "frozen_at")
