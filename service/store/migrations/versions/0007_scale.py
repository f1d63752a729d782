"""Registry-scale indexes (issue 14).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

Reserved so that work on several rooms can land in one order; filled in by
the change that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
