"""Access: security keys, challenges, projects, organisations, invitations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Adds the second factor users remember (`last_two_factor_at`) and the
organisation an audit event is about.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_two_factor_at", TIME, nullable=True))
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("subject_organization", sa.String(255), nullable=True))
        batch.create_index(op.f("ix_audit_events_subject_organization"), ["subject_organization"])
    t = "webauthn_credentials"
    op.create_table(
        t,
        _id(),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        _fk(t, "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("credential_id", name=op.f(f"uq_{t}_credential_id")),
        sa.UniqueConstraint("user_id", "name", name=op.f(f"uq_{t}_user_id_name")),
    )
    op.create_index(op.f(f"ix_{t}_user_id"), t, ["user_id"])
    t = "webauthn_challenges"
    op.create_table(
        t,
        _id(),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        _fk(t, "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("challenge", name=op.f(f"uq_{t}_challenge")),
    )
    op.create_index(op.f(f"ix_{t}_expires_at"), t, ["expires_at"])
    for t in ("projects", "organizations"):
        columns: list[sa.Column[object]] = [
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("normalized_name", sa.String(255), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
        ]
        if t == "projects":
            columns.append(sa.Column("two_factor_required", sa.Boolean(), nullable=False))
        op.create_table(
            t,
            _id(),
            *columns,
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
            sa.UniqueConstraint("normalized_name", name=op.f(f"uq_{t}_normalized_name")),
        )
    for t, parent, column, roles in (
        ("project_roles", "projects", "project_id", "'owner', 'maintainer'"),
        ("organization_members", "organizations", "organization_id", "'owner', 'member'"),
    ):
        op.create_table(
            t,
            _id(),
            sa.Column(column, sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.CheckConstraint(f"role IN ({roles})", name=op.f(f"ck_{t}_role")),
            _fk(t, column, parent, "CASCADE"),
            _fk(t, "user_id", "users", "CASCADE"),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
            sa.UniqueConstraint(column, "user_id", name=op.f(f"uq_{t}_{column}_user_id")),
        )
        op.create_index(op.f(f"ix_{t}_user_id"), t, ["user_id"])
    t = "invitations"
    op.create_table(
        t,
        _id(),
        sa.Column("invitee_user_id", sa.Integer(), nullable=False),
        sa.Column("inviter_user_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.CheckConstraint(
            "(project_id IS NULL) <> (organization_id IS NULL)", name=op.f(f"ck_{t}_one_target")
        ),
        _fk(t, "invitee_user_id", "users", "CASCADE"),
        _fk(t, "inviter_user_id", "users", "SET NULL"),
        _fk(t, "project_id", "projects", "CASCADE"),
        _fk(t, "organization_id", "organizations", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
    )
    op.create_index(
        "uq_invitations_project_invitee", t, ["project_id", "invitee_user_id"], unique=True
    )
    op.create_index(
        "uq_invitations_organization_invitee",
        t,
        ["organization_id", "invitee_user_id"],
        unique=True,
    )


def downgrade() -> None:
    for t in (
        "invitations",
        "organization_members",
        "project_roles",
        "organizations",
        "projects",
        "webauthn_challenges",
        "webauthn_credentials",
    ):
        op.drop_table(t)
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index(op.f("ix_audit_events_subject_organization"))
        batch.drop_column("subject_organization")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_two_factor_at")
