"""Incident response: frozen and stage-only publishers, project states, minted tokens.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Reserved so that work landing in parallel keeps one linear history; filled in
by the change that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
