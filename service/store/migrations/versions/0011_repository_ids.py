"""GitHub repository ids pinned on publishers (issue 21).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

A GitHub publisher whose table names no `repository_id` is pinned to the id
of the first repository that mints with it (service/trust/sql.py), so a
repository deleted and re-created under the same name cannot publish. The
pin is a column, not part of `config`: the table an owner wrote, and its
fingerprint, stay as they were. Existing publishers start unpinned and are
pinned by their next mint.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trusted_publishers") as batch:
        batch.add_column(sa.Column("repository_id", sa.String(20), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite's own since 3.35; the column is in no index), as 0008 does.
    op.drop_column("trusted_publishers", "repository_id")
