"""Refill periods: the current period's start is computed from the clock; no task runs at midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    NONE = "none"


# The single, never-ending "period" of allowances that do not refill.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("naive datetime; pass an aware UTC datetime")
    return now.astimezone(UTC)


def period_start(period: Period, now: datetime) -> datetime:
    """The first instant of the period that contains ``now`` (UTC midnight, Monday, the 1st, or the epoch)."""
    now = _utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAILY:
        return midnight
    if period is Period.WEEKLY:
        return midnight - timedelta(days=midnight.weekday())
    if period is Period.MONTHLY:
        return midnight.replace(day=1)
    return EPOCH


def next_refill(period: Period, now: datetime) -> datetime | None:
    """When the period containing ``now`` ends; ``None`` for allowances that never refill."""
    start = period_start(period, now)
    if period is Period.DAILY:
        return start + timedelta(days=1)
    if period is Period.WEEKLY:
        return start + timedelta(days=7)
    if period is Period.MONTHLY:
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    return None


def discord_relative(moment: datetime) -> str:
    """A Discord timestamp that every client renders in its own words, e.g. "in 5 hours"."""
    return f"<t:{int(_utc(moment).timestamp())}:R>"
