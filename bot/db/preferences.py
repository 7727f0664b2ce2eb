"""Per-user and per-server prompt defaults (``/settings``, ``/prefer``), the prompts ``/describe`` found, and
prompts held for confirmation. Every row belongs to one guild (direct messages: guild ``0``); a user's row
overrides the guild's own row (``user_id`` 0), which overrides the built-in defaults."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.db.jobs import Clock, utcnow
from bot.db.ledger import insert_for
from bot.db.models import DescribedPrompt, PendingPrompt, PreferOption, UserPreferences
from bot.db.policy import guild_key
from bot.db.session import Database

SERVER = 0
"""The ``user_id`` of a guild's own defaults."""
MAX_OPTIONS = 20
HELD_FOR = timedelta(days=1)
"""Held prompts older than this are dropped."""
FIELDS = ("model", "stylize", "quality", "aspect", "chaos", "remix", "suffix", "private", "private_allowed")


@dataclass(frozen=True, slots=True)
class Defaults:
    """What applies to new prompts when they do not say otherwise; ``None`` = not set."""

    model: str | None = None
    stylize: int | None = None
    quality: float | None = None
    aspect: str | None = None
    chaos: int | None = None
    remix: bool | None = None
    suffix: str | None = None
    private: bool | None = None
    """The user's results as ephemeral messages only they see (``/settings``)."""
    private_allowed: bool | None = None
    """Set on the server's row: whether its members may choose private replies (``None``: allowed)."""

    @property
    def private_now(self) -> bool:
        """Private replies chosen and allowed (on effective defaults: the user's choice, the server's
        switch)."""
        return bool(self.private) and self.private_allowed is not False

    def over(self, base: Defaults) -> Defaults:
        """These values where set, ``base``'s elsewhere."""
        return Defaults(
            **{name: _first(getattr(self, name), getattr(base, name)) for name in FIELDS}  # type: ignore[arg-type]
        )


def _first(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _defaults(row: UserPreferences | None) -> Defaults:
    if row is None:
        return Defaults()
    return Defaults(**{name: getattr(row, name) for name in FIELDS})


class PreferenceStore:
    def __init__(self, db: Database, *, now: Clock = utcnow) -> None:
        self._db = db
        self._now = now

    # ---- /settings and /prefer suffix ----

    async def own(self, guild_id: int | None, user_id: int) -> Defaults:
        """The row of ``user_id`` (or :data:`SERVER`) alone."""
        return await self._db.read(_own, guild_key(guild_id), user_id)

    async def effective(self, guild_id: int | None, user_id: int) -> Defaults:
        """The user's values over the server's."""
        guild = guild_key(guild_id)
        mine, server = await self._db.read(_both, guild, user_id)
        return mine.over(server)

    async def set(self, guild_id: int | None, user_id: int, **values: Any) -> Defaults:
        """Set (or with ``None`` clear) some fields; returns the row after the change."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown preference(s) {sorted(unknown)}")
        return await self._db.write(_upsert, guild_key(guild_id), user_id, values, self._now())

    async def reset(self, guild_id: int | None, user_id: int) -> None:
        await self._db.write(_reset, guild_key(guild_id), user_id)

    # ---- /prefer option ----

    async def options(self, guild_id: int | None, user_id: int) -> dict[str, str]:
        return await self._db.read(_options, guild_key(guild_id), user_id)

    async def set_option(self, guild_id: int | None, user_id: int, name: str, value: str | None) -> bool:
        """Set or (``value`` ``None``) delete an option; ``False`` if the user already has
        :data:`MAX_OPTIONS` other options (set) or had no such option (delete)."""
        return await self._db.write(_set_option, guild_key(guild_id), user_id, name, value)

    # ---- /describe results ----

    async def save_description(self, job_id: int, prompts: Sequence[str]) -> None:
        await self._db.write(_save_description, job_id, list(prompts))

    async def description(self, job_id: int, number: int) -> str | None:
        async with self._db.reader() as session:
            row = await session.get(DescribedPrompt, (job_id, number))
            return None if row is None else row.prompt

    # ---- prompts held for confirmation ----

    async def hold(self, guild_id: int | None, user_id: int, prompt: str) -> int:
        return await self._db.write(_hold, guild_key(guild_id), user_id, prompt, self._now())

    async def release(self, pending_id: int, guild_id: int | None, user_id: int) -> str | None:
        """The held prompt, removed, if it is this user's in this guild (``None``: gone, or not theirs)."""
        return await self._db.write(_release, pending_id, guild_key(guild_id), user_id)


def _own(session: Session, guild: int, user_id: int) -> Defaults:
    return _defaults(session.get(UserPreferences, (guild, user_id)))


def _both(session: Session, guild: int, user_id: int) -> tuple[Defaults, Defaults]:
    rows = {
        row.user_id: row
        for row in session.scalars(
            select(UserPreferences).where(
                UserPreferences.guild_id == guild, UserPreferences.user_id.in_([user_id, SERVER])
            )
        )
    }
    return _defaults(rows.get(user_id)), _defaults(rows.get(SERVER))


def _upsert(session: Session, guild: int, user_id: int, values: dict[str, Any], now: datetime) -> Defaults:
    statement = insert_for(session, UserPreferences).values(
        guild_id=guild, user_id=user_id, updated_at=now, **values
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["guild_id", "user_id"], set_={**values, "updated_at": now}
        )
    )
    row = session.get(UserPreferences, (guild, user_id), populate_existing=True)
    return _defaults(row)


def _reset(session: Session, guild: int, user_id: int) -> None:
    session.execute(
        delete(UserPreferences).where(UserPreferences.guild_id == guild, UserPreferences.user_id == user_id)
    )


def _options(session: Session, guild: int, user_id: int) -> dict[str, str]:
    rows = session.execute(
        select(PreferOption.name, PreferOption.value)
        .where(PreferOption.guild_id == guild, PreferOption.user_id == user_id)
        .order_by(PreferOption.name)
    )
    return dict(rows.tuples().all())


def _set_option(session: Session, guild: int, user_id: int, name: str, value: str | None) -> bool:
    mine = (PreferOption.guild_id == guild, PreferOption.user_id == user_id)
    if value is None:
        removed = session.execute(
            delete(PreferOption).where(*mine, PreferOption.name == name).returning(PreferOption.name)
        )
        return removed.first() is not None
    others = [n for n in session.scalars(select(PreferOption.name).where(*mine)) if n != name]
    if len(others) >= MAX_OPTIONS:
        return False
    statement = insert_for(session, PreferOption).values(
        guild_id=guild, user_id=user_id, name=name, value=value
    )
    session.execute(
        statement.on_conflict_do_update(index_elements=["guild_id", "user_id", "name"], set_={"value": value})
    )
    return True


def _save_description(session: Session, job_id: int, prompts: list[str]) -> None:
    session.add_all(
        DescribedPrompt(job_id=job_id, number=number, prompt=prompt)
        for number, prompt in enumerate(prompts, start=1)
    )


def _hold(session: Session, guild: int, user_id: int, prompt: str, now: datetime) -> int:
    session.execute(delete(PendingPrompt).where(PendingPrompt.created_at < now - HELD_FOR))
    row = PendingPrompt(guild_id=guild, user_id=user_id, prompt=prompt, created_at=now)
    session.add(row)
    session.flush()
    return row.id


def _release(session: Session, pending_id: int, guild: int, user_id: int) -> str | None:
    row = session.get(PendingPrompt, pending_id)
    if row is None or row.guild_id != guild or row.user_id != user_id:
        return None
    session.delete(row)
    return row.prompt


__all__ = ["FIELDS", "MAX_OPTIONS", "SERVER", "Defaults", "PreferenceStore"]
