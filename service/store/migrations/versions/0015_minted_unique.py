"""minted_tokens: one row per (jti, publisher), enforced (issue 19).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

Each process now writes its own mint records from memory, and every replica sweeps
the journal's old entries (service/trust/journal.py): a process that stalls past
the sweep's age can write an entry while a sweep writes it too. The look-up both do
first cannot see the other's uncommitted rows; this key can, so the second commit
fails and its retry skips the entry. It replaces 0014's plain index on jti, which it
serves as well (jti leads).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_minted_tokens_jti", table_name="minted_tokens")
    op.create_index(
        "uq_minted_tokens_jti_publisher_id",
        "minted_tokens",
        ["jti", "publisher_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_minted_tokens_jti_publisher_id", table_name="minted_tokens")
    op.create_index("ix_minted_tokens_jti", "minted_tokens", ["jti"])
