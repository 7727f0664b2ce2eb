"""Outbox: jobs gain ``posted_at``. A ``succeeded`` job with its images recorded but ``posted_at`` ``NULL`` is
ready to post (its result was recorded before anything was sent); start-up posts it without rendering again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("posted_at", UTCDateTime(), nullable=True))
    # Before the outbox a job was recorded as succeeded only after its result had been posted.
    op.execute("UPDATE jobs SET posted_at = finished_at WHERE status = 'succeeded'")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("posted_at")
