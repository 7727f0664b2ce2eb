"""What applies to one user in one guild: allowance and period, costs, job cap, blocked flag.

Precedence: a user override (``blocked`` > ``unlimited`` > credits) beats roles; among roles the most generous
configured allowance wins and replaces the guild default; with neither, the guild default (25 credits daily
out of the box) applies. Direct messages (when ``ALLOW_DMS`` is on) use guild ``0``, whose allowance and
blocked words the bot owner's settings write at start-up (:meth:`bot.db.QuotaService.configure_dms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, case, func, literal, null, select
from sqlalchemy.orm import Session

from bot.db.models import ActionCost, BlockedWord, GuildSettings, RoleAllowance, UserOverride
from bot.db.periods import Period, period_start
from bot.db.records import ACTIONS
from bot.db.words import word_key

DEFAULT_ALLOWANCE = 25
DEFAULT_PERIOD = Period.DAILY
DEFAULT_COST = 1
DM_GUILD = 0
WORD_SEPARATOR = "\n"  # blocked words are stored on one line each
ANYWHERE_MARK = "\t"  # before a word that matches inside words too (stored words never hold a tab)


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
    blocked_words: dict[str, str]  # normalized → as the admin wrote it

    def period_start(self, now: datetime) -> datetime:
        return period_start(self.period, now)


def _default_costs() -> dict[str, int]:
    return dict.fromkeys(ACTIONS, DEFAULT_COST)


def _costs(session: Session, guild_id: int) -> dict[str, int]:
    costs = _default_costs()
    rows = session.execute(
        select(ActionCost.action, ActionCost.credits).where(ActionCost.guild_id == guild_id)
    )
    costs.update({action: credits for action, credits in rows.tuples()})
    return costs


def load_guild_config(session: Session, guild_id: int) -> GuildConfig:
    settings = session.get(GuildSettings, guild_id)
    costs = _costs(session, guild_id)
    if settings is None:
        return GuildConfig(DEFAULT_ALLOWANCE, DEFAULT_PERIOD, None, costs)
    return GuildConfig(settings.allowance, Period(settings.period), settings.max_active, costs)


def _policy_query(with_roles: bool) -> Select[Any]:
    """Guild settings, costs, the user's override, their best role and the guild's blocked words in one
    statement of scalar subqueries, built once: a reservation pays for as few round trips as possible."""
    guild: BindParameter[int] = bindparam("guild_id")
    user: BindParameter[int] = bindparam("user_id")

    def guild_column(column: Any) -> Any:
        return select(column).where(GuildSettings.guild_id == guild).scalar_subquery()

    def override_column(column: Any) -> Any:
        return (
            select(column)
            .where(UserOverride.guild_id == guild, UserOverride.user_id == user)
            .scalar_subquery()
        )

    def cost(action: str) -> Any:
        return (
            select(ActionCost.credits)
            .where(ActionCost.guild_id == guild, ActionCost.action == action)
            .scalar_subquery()
        )

    best_role = (
        select(func.max(RoleAllowance.credits))
        .where(
            RoleAllowance.guild_id == guild, RoleAllowance.role_id.in_(bindparam("role_ids", expanding=True))
        )
        .scalar_subquery()
        if with_roles
        else null()
    )
    words = (
        select(
            func.aggregate_strings(
                case(
                    (BlockedWord.anywhere, literal(ANYWHERE_MARK) + BlockedWord.word), else_=BlockedWord.word
                ),
                WORD_SEPARATOR,
            )
        )
        .where(BlockedWord.guild_id == guild)
        .scalar_subquery()
    )
    return select(
        guild_column(GuildSettings.allowance),
        guild_column(GuildSettings.period),
        guild_column(GuildSettings.max_active),
        override_column(UserOverride.credits),
        override_column(UserOverride.unlimited),
        override_column(UserOverride.blocked),
        best_role,
        words,
        *(cost(action) for action in ACTIONS),
    )


_POLICY = {True: _policy_query(True), False: _policy_query(False)}


def load_policy(session: Session, guild_id: int, user_id: int, role_ids: Sequence[int]) -> Policy:
    params: dict[str, Any] = {"guild_id": guild_id, "user_id": user_id}
    if role_ids:
        params["role_ids"] = list(role_ids)
    row = (session.execute(_POLICY[bool(role_ids)], params)).one()
    allowance, period, max_active, override_credits, unlimited, blocked, role_credits, word_list = row[:8]
    limit: int | None = DEFAULT_ALLOWANCE if allowance is None else allowance
    if unlimited:
        limit = None
    elif override_credits is not None:
        limit = override_credits
    elif role_credits is not None:
        limit = role_credits
    costs = {action: DEFAULT_COST if c is None else c for action, c in zip(ACTIONS, row[8:], strict=True)}
    blocked_words = dict(_word_entry(w) for w in (word_list or "").split(WORD_SEPARATOR) if w)
    return Policy(
        guild_id,
        user_id,
        DEFAULT_PERIOD if period is None else Period(period),
        limit,
        bool(blocked),
        costs,
        max_active,
        blocked_words,
    )


def _word_entry(aggregated: str) -> tuple[str, str]:
    """``(word_key, word)`` of one line of the aggregated word list."""
    word = aggregated.removeprefix(ANYWHERE_MARK)
    return word_key(word, anywhere=word != aggregated), word


def load_blocked_words(session: Session, guild_id: int) -> dict[str, str]:
    """:func:`bot.db.words.word_key` → the word as the admin wrote it (keys recomputed from the words, so
    they always follow the current folding rules)."""
    rows = session.execute(
        select(BlockedWord.word, BlockedWord.anywhere)
        .where(BlockedWord.guild_id == guild_id)
        .order_by(BlockedWord.normalized)
    )
    return {word_key(word, anywhere=anywhere): word for word, anywhere in rows.tuples().all()}
