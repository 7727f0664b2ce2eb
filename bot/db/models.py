"""The schema as typed SQLAlchemy 2 models; the Alembic migrations in ``migrations/versions`` create it.

Discord ids are 64-bit (``BigInteger``). Direct messages are stored with ``guild_id`` ``NULL`` on jobs and
under guild ``0`` in the quota tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.db.types import UTCDateTime


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    prompt: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    model: Mapped[str | None] = mapped_column(String(200))
    seeds: Mapped[list[int] | None] = mapped_column(JSON)
    cost: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    parent_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    parent_tile: Mapped[int | None] = mapped_column(Integer)
    grid_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the result was posted; ``NULL`` on a ``succeeded`` job = recorded, ready to post (the outbox)."""


class Image(Base):
    __tablename__ = "images"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    tile: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)


class GuildSettings(Base):
    """Per-guild defaults; a guild without a row uses the built-in defaults."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    allowance: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(16))
    max_active: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ActionCost(Base):
    __tablename__ = "action_costs"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    credits: Mapped[int] = mapped_column(Integer)


class RoleAllowance(Base):
    __tablename__ = "role_allowances"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    credits: Mapped[int] = mapped_column(Integer)


class UserOverride(Base):
    """``credits`` replaces every role/default allowance; ``unlimited`` and ``blocked`` win over it."""

    __tablename__ = "user_overrides"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    credits: Mapped[int | None] = mapped_column(Integer)
    unlimited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    blocked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class CreditGrant(Base):
    """One-off credits: spent after the period's allowance, never expire."""

    __tablename__ = "credit_grants"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    balance: Mapped[int] = mapped_column(Integer)
    granted_total: Mapped[int] = mapped_column(Integer)


class Usage(Base):
    """The ledger: credits of the allowance used by one user in one period (the row appears on first use)."""

    __tablename__ = "usage"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Reservation(Base):
    """What one job took from the ledger: ``reserved`` → ``committed`` (success) or ``refunded`` (once)."""

    __tablename__ = "reservations"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    from_allowance: Mapped[int] = mapped_column(Integer)
    from_grants: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BlockedWord(Base):
    __tablename__ = "blocked_words"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    normalized: Mapped[str] = mapped_column(String(200), primary_key=True)
    word: Mapped[str] = mapped_column(String(200))
    anywhere: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))  # also inside words
    added_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Audit(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    actor_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserPreferences(Base):
    """``/settings`` and ``/prefer suffix``: a user's defaults in one guild (``user_id`` 0: the guild's own
    defaults, set by its admins). ``NULL`` means "not set": the next level down applies."""

    __tablename__ = "user_preferences"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    model: Mapped[str | None] = mapped_column(String(100))
    stylize: Mapped[int | None] = mapped_column(Integer)
    quality: Mapped[float | None] = mapped_column(Float)
    aspect: Mapped[str | None] = mapped_column(String(16))
    chaos: Mapped[int | None] = mapped_column(Integer)
    remix: Mapped[bool | None] = mapped_column(Boolean)
    suffix: Mapped[str | None] = mapped_column(Text)
    private: Mapped[bool | None] = mapped_column(Boolean)
    private_allowed: Mapped[bool | None] = mapped_column(Boolean)
    """On the server's row: whether members may choose private replies (``NULL``: allowed)."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PreferOption(Base):
    """``/prefer option set NAME VALUE``: ``--NAME`` in a prompt expands to ``VALUE``."""

    __tablename__ = "prefer_options"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DescribedPrompt(Base):
    """One of the prompts a ``describe`` job found (``number`` 1–4, most likely first)."""

    __tablename__ = "descriptions"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    prompt: Mapped[str] = mapped_column(Text)


class PendingPrompt(Base):
    """A prompt held until its author confirms it (e.g. one the model has no word for)."""

    __tablename__ = "pending_prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    prompt: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
