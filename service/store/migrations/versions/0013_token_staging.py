"""Staging policy for uploads made with API tokens (issue 21).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

Reserved so that work landing in parallel keeps one linear history; filled in
by the change that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
