"""Role changes and removals (issue 4).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

Empty on purpose: role changes and removals needed no schema change (the
role tables of 0002 hold them). The revision was reserved while several rooms
were built side by side and stays because 0006 and 0007 follow it.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
