"""Quotas: guild settings, action costs, role allowances, user overrides, grants, usage ledger,
per-job reservations, blocked words, audit; jobs gain ``started_at``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("started_at", UTCDateTime(), nullable=True))
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("allowance", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("max_active", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "action_costs",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(16), primary_key=True),
        sa.Column("credits", sa.Integer(), nullable=False),
    )
    op.create_table(
        "role_allowances",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("role_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("credits", sa.Integer(), nullable=False),
    )
    op.create_table(
        "user_overrides",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("credits", sa.Integer(), nullable=True),
        sa.Column("unlimited", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("blocked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "credit_grants",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("granted_total", sa.Integer(), nullable=False),
    )
    op.create_table(
        "usage",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("period_start", UTCDateTime(), primary_key=True),
        sa.Column("used", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "reservations",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("from_allowance", sa.Integer(), nullable=False),
        sa.Column("from_grants", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_reservations_status", "reservations", ["status"])
    op.create_table(
        "blocked_words",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("normalized", sa.String(200), primary_key=True),
        sa.Column("word", sa.String(200), nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_audit_guild_id", "audit", ["guild_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_guild_id", "audit")
    op.drop_table("audit")
    op.drop_table("blocked_words")
    op.drop_index("ix_reservations_status", "reservations")
    op.drop_table("reservations")
    op.drop_table("usage")
    op.drop_table("credit_grants")
    op.drop_table("user_overrides")
    op.drop_table("role_allowances")
    op.drop_table("action_costs")
    op.drop_table("guild_settings")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("started_at")
