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

from sqlalchemy import BindParameter, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

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


def insert_for(session: Session | AsyncSession, table: Any) -> Any:
    """A dialect-specific INSERT supporting ``on_conflict_do_nothing/update`` (SQLite and PostgreSQL)."""
    return _insert_for(session.get_bind().dialect.name, table)


def _insert_for(dialect: str, table: Any) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# The hot statements are built once with bound parameters: building and cache-keying a statement costs more
# CPU than SQLite takes to run it. ``:row_guild``, ``:row_user``, ``:row_start`` name the period's row.
_GUILD: BindParameter[int] = bindparam("row_guild")
_USER: BindParameter[int] = bindparam("row_user")
_START: BindParameter[datetime] = bindparam("row_start")
_USAGE_ROW = (Usage.guild_id == _GUILD, Usage.user_id == _USER, Usage.period_start == _START)
_GRANT_ROW = (CreditGrant.guild_id == _GUILD, CreditGrant.user_id == _USER)
_NO_SYNC = {"synchronize_session": False}

# The reservation: ONE conditional statement, whose WHERE refuses anything beyond the limit.
TAKE_ALLOWANCE = (
    update(Usage)
    .where(*_USAGE_ROW, Usage.used + bindparam("cost") <= bindparam("limit"))
    .values(used=Usage.used + bindparam("cost"))
    .returning(Usage.used)
    .execution_options(**_NO_SYNC)
)
TAKE_GRANTS = (
    update(CreditGrant)
    .where(*_GRANT_ROW, CreditGrant.balance >= bindparam("cost"))
    .values(balance=CreditGrant.balance - bindparam("cost"))
    .returning(CreditGrant.balance)
    .execution_options(**_NO_SYNC)
)
_GIVE_BACK_ALLOWANCE = (
    update(Usage)
    .where(*_USAGE_ROW)
    .values(used=case((Usage.used >= bindparam("credits"), Usage.used - bindparam("credits")), else_=0))
    .execution_options(**_NO_SYNC)
)
_GIVE_BACK_GRANTS = (
    update(CreditGrant)
    .where(*_GRANT_ROW)
    .values(balance=CreditGrant.balance + bindparam("credits"))
    .execution_options(**_NO_SYNC)
)
_SETTLE = (
    update(Reservation)
    .where(Reservation.job_id == bindparam("row_job"), Reservation.status == "reserved")
    .values(status=bindparam("new_status"), settled_at=bindparam("now"))
    .returning(
        Reservation.guild_id,
        Reservation.user_id,
        Reservation.period_start,
        Reservation.from_allowance,
        Reservation.from_grants,
    )
    .execution_options(**_NO_SYNC)
)
_USED = select(Usage.used).where(*_USAGE_ROW)
_GRANTED = select(CreditGrant.balance).where(*_GRANT_ROW)


def _lock_statement(dialect: str) -> Any:
    stmt = _insert_for(dialect, Usage).values(guild_id=_GUILD, user_id=_USER, period_start=_START, used=0)
    return (
        stmt.on_conflict_do_update(
            index_elements=["guild_id", "user_id", "period_start"], set_={"used": Usage.used}
        )
        .returning(Usage.used)
        .execution_options(**_NO_SYNC)
    )


_LOCK = {dialect: _lock_statement(dialect) for dialect in ("sqlite", "postgresql")}


def _row(key: UsageKey) -> dict[str, Any]:
    return {"row_guild": key.guild_id, "row_user": key.user_id, "row_start": key.period_start}


def lock_usage(session: Session, key: UsageKey) -> int:
    """Make sure the period's row exists and lock it for the rest of the transaction, in one statement
    (``INSERT … ON CONFLICT DO UPDATE`` takes the row lock on PostgreSQL; on SQLite the writer already holds
    the database). Returns the credits used so far in the period."""
    stmt = _LOCK[session.get_bind().dialect.name]
    return int((session.execute(stmt, _row(key))).scalar_one())


def used_in_period(session: Session, key: UsageKey) -> int:
    return int(session.scalar(_USED, _row(key)) or 0)


def grant_balance(session: Session, guild_id: int, user_id: int) -> int:
    return int(session.scalar(_GRANTED, {"row_guild": guild_id, "row_user": user_id}) or 0)


def _take_allowance(session: Session, key: UsageKey, credits: int, limit: int) -> bool:
    result = session.execute(TAKE_ALLOWANCE, {**_row(key), "cost": credits, "limit": limit})
    return result.first() is not None


def _take_grants(session: Session, key: UsageKey, credits: int) -> bool:
    result = session.execute(
        TAKE_GRANTS, {"row_guild": key.guild_id, "row_user": key.user_id, "cost": credits}
    )
    return result.first() is not None


def reserve(session: Session, key: UsageKey, *, cost: int, limit: int | None, used: int) -> Taken | None:
    """Take ``cost`` credits (allowance first, then grants) or return ``None``.

    ``used`` is the locked period usage from :func:`lock_usage`; it only decides how to split a cost the
    allowance cannot cover alone — every statement re-checks its own condition, so a stale value could refuse,
    never overspend.
    The caller must roll back on ``None`` (a split may have taken the grant part already).
    """
    if limit is None or cost <= 0:
        return Taken(0, 0)
    if _take_allowance(session, key, cost, limit):
        return Taken(cost, 0)
    part = max(0, min(cost, limit - used))
    rest = cost - part
    if not _take_grants(session, key, rest):
        return None
    if part and not _take_allowance(session, key, part, limit):
        return None
    return Taken(part, rest)


def record(session: Session, job_id: int, key: UsageKey, taken: Taken, now: datetime) -> None:
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
    session.flush()


def commit(session: Session, job_id: int, now: datetime) -> bool:
    result = session.execute(_SETTLE, {"row_job": job_id, "new_status": "committed", "now": now})
    return result.first() is not None


def refund(session: Session, job_id: int, now: datetime) -> bool:
    """Give back what the job reserved, at most once. Returns whether this call refunded."""
    result = session.execute(_SETTLE, {"row_job": job_id, "new_status": "refunded", "now": now})
    row = result.first()
    if row is None:
        return False
    guild_id, user_id, start, from_allowance, from_grants = row
    owner = {"row_guild": guild_id, "row_user": user_id}
    if from_allowance:
        session.execute(_GIVE_BACK_ALLOWANCE, {**owner, "row_start": start, "credits": from_allowance})
    if from_grants:
        session.execute(_GIVE_BACK_GRANTS, {**owner, "credits": from_grants})
    return True
