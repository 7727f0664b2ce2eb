"""What applies to one user in one guild: allowance and period, costs, job cap, blocked flag.

Precedence: a user override (``blocked`` > ``unlimited`` > credits) beats roles; among roles the most generous
configured allowance wins and replaces the guild default; with neither, the guild default (25 credits daily
out of the box) applies. Direct messages use guild ``0`` with the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ActionCost, BlockedWord, GuildSettings, RoleAllowance, UserOverride
from bot.db.periods import Period, period_start
from bot.db.records import ACTIONS

DEFAULT_ALLOWANCE = 25
DEFAULT_PERIOD = Period.DAILY
DEFAULT_COST = 1
DM_GUILD = 0


def guild_key(guild_id: int | None) -> int:
    return DM_GUILD if guild_id is None else guild_id


@dataclass(frozen=True, slots=True)
class GuildConfig:
    allowance: int
    period: Period
    max_active: int | None
    costs: dict[str, int]


@dataclass(frozen=True, slots=True)
class Policy:
    guild_id: int
    user_id: int
    period: Period
    limit: int | None  # None = unlimited
    blocked: bool
    costs: dict[str, int]
    max_active: int | None

    def period_start(self, now: datetime) -> datetime:
        return period_start(self.period, now)


async def load_guild_config(session: AsyncSession, guild_id: int) -> GuildConfig:
    settings = await session.get(GuildSettings, guild_id)
    costs = dict.fromkeys(ACTIONS, DEFAULT_COST)
    rows = await session.execute(
        select(ActionCost.action, ActionCost.credits).where(ActionCost.guild_id == guild_id)
    )
    costs.update({action: credits for action, credits in rows.tuples()})
    if settings is None:
        return GuildConfig(DEFAULT_ALLOWANCE, DEFAULT_PERIOD, None, costs)
    return GuildConfig(settings.allowance, Period(settings.period), settings.max_active, costs)


async def load_policy(session: AsyncSession, guild_id: int, user_id: int, role_ids: Sequence[int]) -> Policy:
    config = await load_guild_config(session, guild_id)
    override = await session.get(UserOverride, (guild_id, user_id))
    limit: int | None = config.allowance
    if override is not None and override.unlimited:
        limit = None
    elif override is not None and override.credits is not None:
        limit = override.credits
    elif role_ids:
        best = await session.scalar(
            select(func.max(RoleAllowance.credits)).where(
                RoleAllowance.guild_id == guild_id, RoleAllowance.role_id.in_(list(role_ids))
            )
        )
        if best is not None:
            limit = best
    blocked = override is not None and override.blocked
    return Policy(guild_id, user_id, config.period, limit, blocked, config.costs, config.max_active)


async def load_blocked_words(session: AsyncSession, guild_id: int) -> dict[str, str]:
    rows = await session.execute(
        select(BlockedWord.normalized, BlockedWord.word)
        .where(BlockedWord.guild_id == guild_id)
        .order_by(BlockedWord.normalized)
    )
    return dict(rows.tuples().all())
