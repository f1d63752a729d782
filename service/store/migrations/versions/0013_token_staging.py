"""Staging policy for uploads made with API tokens (issue 21).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

`staging_policies.stage_api_tokens`: when a project stages uploads, uploads
authenticated by an API token are staged too, so a leaked maintainer token
cannot publish past the review the project asked for. Secure by default: every
existing policy row gets true (the server default), and so does every new one.

A plain ADD/DROP COLUMN rather than a batch: SQLite adds a NOT NULL column with
a constant default in place (and drops one since 3.35), while a batch rebuild
would reflect the tables `staging_policies` refers to, and reflection cannot
read the expression index on `users` (see 0008's downgrade).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "staging_policies",
        sa.Column("stage_api_tokens", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("staging_policies", "stage_api_tokens")
