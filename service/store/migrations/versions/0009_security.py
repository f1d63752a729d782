"""Account security: devices seen at sign-in (issue 21).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

`known_devices`: per user, the SHA-256 of each device cookie handed out when a
second-factor sign-in finished. A sign-in from a device not in it mails the
owner a notice (service/accounts/devices.py). A new table only: existing users
start with no known device, so their next sign-in from each browser notifies once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "known_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", TIME, nullable=False),
        sa.Column("last_seen_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_known_devices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_devices")),
    )
    op.create_index(
        "uq_known_devices_user_hash", "known_devices", ["user_id", "device_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_known_devices_user_hash", table_name="known_devices")
    op.drop_table("known_devices")
