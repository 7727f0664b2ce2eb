"""Periods start from the clock alone; a new period refills the allowance without any scheduled task."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.db import JobStore, QuotaRefused, QuotaService
from bot.db.periods import EPOCH, Period, discord_relative, next_refill, period_start
from tests.db.support import ADMIN, GUILD, Clock, Submit

USER = 7


@pytest.mark.parametrize(
    ("period", "now", "start", "refill"),
    [
        (Period.DAILY, datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC),
         datetime(2026, 3, 11, tzinfo=UTC)),
        (Period.WEEKLY, datetime(2026, 3, 15, 8, 0, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC),
         datetime(2026, 3, 16, tzinfo=UTC)),
        (Period.WEEKLY, datetime(2026, 3, 16, 0, 0, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC),
         datetime(2026, 3, 23, tzinfo=UTC)),
        (Period.MONTHLY, datetime(2026, 12, 31, 18, 0, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC),
         datetime(2027, 1, 1, tzinfo=UTC)),
        (Period.NONE, datetime(2026, 12, 31, 18, 0, tzinfo=UTC), EPOCH, None),
    ],
)  # fmt: skip
def test_period_bounds(period: Period, now: datetime, start: datetime, refill: datetime | None) -> None:
    assert period_start(period, now) == start
    assert next_refill(period, now) == refill


def test_period_bounds_use_utc_whatever_the_input_zone() -> None:
    from datetime import timedelta, timezone

    tokyo = timezone(timedelta(hours=9))
    # 2026-03-11 02:00 in Tokyo is still 2026-03-10 in UTC.
    assert period_start(Period.DAILY, datetime(2026, 3, 11, 2, 0, tzinfo=tokyo)) == datetime(
        2026, 3, 10, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        period_start(Period.DAILY, datetime(2026, 3, 11))


def test_discord_timestamp() -> None:
    assert discord_relative(datetime(2026, 3, 11, tzinfo=UTC)) == "<t:1773187200:R>"


async def test_daily_allowance_refills_at_utc_midnight(
    quota: QuotaService, submit: Submit, clock: Clock
) -> None:
    await quota.set_default(GUILD, credits=2, period="daily", actor_id=ADMIN)
    clock.now = datetime(2026, 3, 10, 23, 58, tzinfo=UTC)
    await submit(USER)
    await submit(USER)
    with pytest.raises(QuotaRefused) as refused:
        await submit(USER)
    assert refused.value.reason == "credits"
    assert "<t:1773187200:R>" in refused.value.message  # 2026-03-11 00:00 UTC

    clock.now = datetime(2026, 3, 11, 0, 0, 1, tzinfo=UTC)
    status = await quota.status(GUILD, USER, [])
    assert (status.remaining, status.used) == (2, 0)
    await submit(USER)
    assert (await quota.status(GUILD, USER, [])).remaining == 1


async def test_weekly_allowance_lasts_until_monday(quota: QuotaService, submit: Submit, clock: Clock) -> None:
    await quota.set_default(GUILD, credits=1, period="weekly", actor_id=ADMIN)
    clock.now = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)  # Monday
    await submit(USER)
    clock.now = datetime(2026, 3, 15, 23, 0, tzinfo=UTC)  # Sunday, same week
    with pytest.raises(QuotaRefused):
        await submit(USER)
    clock.now = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)  # next Monday
    await submit(USER)


async def test_none_period_never_refills_and_says_so(
    quota: QuotaService, submit: Submit, clock: Clock
) -> None:
    await quota.set_default(GUILD, credits=1, period="none", actor_id=ADMIN)
    await submit(USER)
    clock.advance(days=400)
    with pytest.raises(QuotaRefused) as refused:
        await submit(USER)
    assert "does not refill" in refused.value.message
    status = await quota.status(GUILD, USER, [])
    assert status.next_refill is None and status.remaining == 0


async def test_refund_after_rollover_goes_to_the_old_period(
    jobs: JobStore, quota: QuotaService, submit: Submit, clock: Clock
) -> None:
    await quota.set_default(GUILD, credits=2, period="daily", actor_id=ADMIN)
    clock.now = datetime(2026, 3, 10, 23, 59, tzinfo=UTC)
    job = await submit(USER)
    clock.now = datetime(2026, 3, 11, 0, 1, tzinfo=UTC)
    assert await jobs.mark_failed(job.id, "engine failure")
    # The new period is untouched: a refund never makes a balance larger than its allowance.
    status = await quota.status(GUILD, USER, [])
    assert (status.remaining, status.used) == (2, 0)
    clock.now = datetime(2026, 3, 10, 23, 59, 30, tzinfo=UTC)
    assert (await quota.status(GUILD, USER, [])).remaining == 2
