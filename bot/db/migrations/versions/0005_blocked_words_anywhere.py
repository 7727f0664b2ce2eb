"""Blocked words: an ``anywhere`` flag (match inside words too); stored keys refolded (look-alike letters).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db.words import normalize_word

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

_WORDS = sa.table(
    "blocked_words",
    sa.column("guild_id", sa.BigInteger()),
    sa.column("normalized", sa.String(200)),
    sa.column("word", sa.String(200)),
)


def upgrade() -> None:
    with op.batch_alter_table("blocked_words") as batch:
        batch.add_column(sa.Column("anywhere", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    # Keys were folded without look-alike letters: refold them, keeping one row where two now coincide.
    connection = op.get_bind()
    rows = connection.execute(sa.select(_WORDS.c.guild_id, _WORDS.c.normalized, _WORDS.c.word)).all()
    taken = {(guild, key) for guild, key, _ in rows}
    for guild, key, word in rows:
        refolded = normalize_word(word)
        if refolded == key:
            continue
        match = (_WORDS.c.guild_id == guild) & (_WORDS.c.normalized == key)
        if (guild, refolded) in taken:
            connection.execute(sa.delete(_WORDS).where(match))
        else:
            connection.execute(sa.update(_WORDS).where(match).values(normalized=refolded))
        taken.discard((guild, key))
        taken.add((guild, refolded))


def downgrade() -> None:
    with op.batch_alter_table("blocked_words") as batch:
        batch.drop_column("anywhere")
