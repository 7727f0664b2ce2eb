"""The credit ledger: reserve → commit or refund, each step conditional SQL so concurrency cannot overspend.

* ``reserve`` first tries ONE statement that takes the whole cost from this period's allowance:
  ``UPDATE usage SET used = used + :cost WHERE <key> AND used + :cost <= :limit RETURNING used``.
  If the allowance cannot cover it, what is left of the allowance and the rest from one-off grants are
  taken by two statements, each conditional (``balance >= :rest``, ``used + :part <= :limit``), in the same
  transaction; any refusal rolls the whole transaction back.
* ``refund`` flips the job's reservation ``reserved → refunded`` with a conditional UPDATE; only the caller
  whose statement changed the row gives the credits back, so retries and recovery never refund twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import CreditGrant, Reservation, Usage


@dataclass(frozen=True, slots=True)
class UsageKey:
    guild_id: int
    user_id: int
    period_start: datetime


@dataclass(frozen=True, slots=True)
class Taken:
    from_allowance: int
    from_grants: int


def insert_for(session: AsyncSession, table: Any) -> Any:
    """A dialect-specific INSERT supporting ``on_conflict_do_nothing/update`` (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _usage_where(key: UsageKey) -> tuple[Any, ...]:
    return (
        Usage.guild_id == key.guild_id,
        Usage.user_id == key.user_id,
        Usage.period_start == key.period_start,
    )


async def lock_usage(session: AsyncSession, key: UsageKey) -> int:
    """Make sure the period's row exists and lock it for this transaction (PostgreSQL ``FOR UPDATE``; on
    SQLite the writer already holds the database lock). Returns the credits used so far in the period."""
    await session.execute(
        insert_for(session, Usage)
        .values(guild_id=key.guild_id, user_id=key.user_id, period_start=key.period_start, used=0)
        .on_conflict_do_nothing()
    )
    used = await session.scalar(select(Usage.used).where(*_usage_where(key)).with_for_update())
    return int(used or 0)


async def used_in_period(session: AsyncSession, key: UsageKey) -> int:
    return int(await session.scalar(select(Usage.used).where(*_usage_where(key))) or 0)


async def grant_balance(session: AsyncSession, guild_id: int, user_id: int) -> int:
    balance = await session.scalar(
        select(CreditGrant.balance).where(CreditGrant.guild_id == guild_id, CreditGrant.user_id == user_id)
    )
    return int(balance or 0)


async def _take_allowance(session: AsyncSession, key: UsageKey, credits: int, limit: int) -> bool:
    row = await session.execute(
        update(Usage)
        .where(*_usage_where(key), Usage.used + credits <= limit)
        .values(used=Usage.used + credits)
        .returning(Usage.used)
        .execution_options(synchronize_session=False)
    )
    return row.first() is not None


async def _take_grants(session: AsyncSession, key: UsageKey, credits: int) -> bool:
    row = await session.execute(
        update(CreditGrant)
        .where(
            CreditGrant.guild_id == key.guild_id,
            CreditGrant.user_id == key.user_id,
            CreditGrant.balance >= credits,
        )
        .values(balance=CreditGrant.balance - credits)
        .returning(CreditGrant.balance)
        .execution_options(synchronize_session=False)
    )
    return row.first() is not None


async def reserve(
    session: AsyncSession, key: UsageKey, *, cost: int, limit: int | None, used: int
) -> Taken | None:
    """Take ``cost`` credits (allowance first, then grants) or return ``None``.

    ``used`` is the locked period usage from :func:`lock_usage`; it only decides how to split a cost the
    allowance cannot cover alone — every statement re-checks its own condition, so a stale value could refuse,
    never overspend.
    The caller must roll back on ``None`` (a split may have taken the grant part already).
    """
    if limit is None or cost <= 0:
        return Taken(0, 0)
    if await _take_allowance(session, key, cost, limit):
        return Taken(cost, 0)
    part = max(0, min(cost, limit - used))
    rest = cost - part
    if not await _take_grants(session, key, rest):
        return None
    if part and not await _take_allowance(session, key, part, limit):
        return None
    return Taken(part, rest)


async def record(session: AsyncSession, job_id: int, key: UsageKey, taken: Taken, now: datetime) -> None:
    session.add(
        Reservation(
            job_id=job_id,
            guild_id=key.guild_id,
            user_id=key.user_id,
            period_start=key.period_start,
            from_allowance=taken.from_allowance,
            from_grants=taken.from_grants,
            status="reserved",
            created_at=now,
        )
    )
    await session.flush()


async def commit(session: AsyncSession, job_id: int, now: datetime) -> bool:
    row = await session.execute(
        update(Reservation)
        .where(Reservation.job_id == job_id, Reservation.status == "reserved")
        .values(status="committed", settled_at=now)
        .returning(Reservation.job_id)
        .execution_options(synchronize_session=False)
    )
    return row.first() is not None


async def refund(session: AsyncSession, job_id: int, now: datetime) -> bool:
    """Give back what the job reserved, at most once. Returns whether this call refunded."""
    result = await session.execute(
        update(Reservation)
        .where(Reservation.job_id == job_id, Reservation.status == "reserved")
        .values(status="refunded", settled_at=now)
        .returning(
            Reservation.guild_id,
            Reservation.user_id,
            Reservation.period_start,
            Reservation.from_allowance,
            Reservation.from_grants,
        )
        .execution_options(synchronize_session=False)
    )
    row = result.first()
    if row is None:
        return False
    guild_id, user_id, start, from_allowance, from_grants = row
    if from_allowance:
        await session.execute(
            update(Usage)
            .where(*_usage_where(UsageKey(guild_id, user_id, start)))
            .values(used=case((Usage.used >= from_allowance, Usage.used - from_allowance), else_=0))
            .execution_options(synchronize_session=False)
        )
    if from_grants:
        await session.execute(
            update(CreditGrant)
            .where(CreditGrant.guild_id == guild_id, CreditGrant.user_id == user_id)
            .values(balance=CreditGrant.balance + from_grants)
            .execution_options(synchronize_session=False)
        )
    return True
