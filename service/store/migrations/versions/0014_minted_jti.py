"""An index on minted_tokens.jti (issue 19).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The mint journal (service/trust/journal.py) delivers each mint's record at least
once: a drainer that committed a batch and died before acknowledging it leaves the
batch to another replica, which skips the entries whose jti is already here. That
look-up runs once per batch, so it must not scan the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_minted_tokens_jti", "minted_tokens", ["jti"])


def downgrade() -> None:
    op.drop_index("ix_minted_tokens_jti", table_name="minted_tokens")
