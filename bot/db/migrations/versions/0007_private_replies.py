"""Private replies: a user's choice to get their ``/imagine`` results as ephemeral messages (``private``), and
a server's switch allowing it (``private_allowed`` on the server's row; ``NULL`` = allowed).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_preferences") as batch:
        batch.add_column(sa.Column("private", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("private_allowed", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_preferences") as batch:
        batch.drop_column("private_allowed")
        batch.drop_column("private")
