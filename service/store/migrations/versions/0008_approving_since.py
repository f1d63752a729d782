"""When a staged release's approval began, so a stalled one can be recovered.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

An approval claims its release (staged -> approving) and then forwards the
files; a process that dies in between leaves the release in `approving`, where
nobody can approve it again. `approving_since` is stamped by that claim and
cleared when the release leaves `approving`; `mintgate staged sweep` puts a
release claimed too long ago back to `staged` (service/staging/review.py).
Releases already in `approving` when this runs are stamped with the time of
the migration: the sweep recovers them once the bound has passed since then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("staged_releases") as batch:
        batch.add_column(sa.Column("approving_since", TIME, nullable=True))
    releases = sa.table(
        "staged_releases", sa.column("status", sa.String), sa.column("approving_since", TIME)
    )
    op.execute(
        releases.update()
        .where(releases.c.status == "approving")
        .values(approving_since=datetime.now(UTC))
    )


def downgrade() -> None:
    # A plain DROP COLUMN, SQLite's own since 3.35 (the column is in no index or
    # constraint): a batch rebuild of the table would re-create its partial index from
    # reflection, and reflection cannot read the expression indexes of the tables it joins.
    op.drop_column("staged_releases", "approving_since")
