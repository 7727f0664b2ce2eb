"""Spending under concurrency: every reservation is one conditional statement, so nothing is overspent,
and refunds happen once however often and however concurrently they are attempted."""

from __future__ import annotations

import asyncio

from bot.db import JobRecord, JobStore, QuotaRefused, QuotaService
from tests.db.support import ADMIN, GUILD, Submit

USER = 42


async def _attempt(submit: Submit) -> JobRecord | QuotaRefused:
    try:
        return await submit(USER)
    except QuotaRefused as refused:
        return refused


async def test_fifty_concurrent_reservations_against_ten_credits_grant_exactly_ten(
    jobs: JobStore, quota: QuotaService, submit: Submit
) -> None:
    await quota.set_default(GUILD, credits=10, period="daily", actor_id=ADMIN)

    results = await asyncio.gather(*(_attempt(submit) for _ in range(50)))

    granted = [r for r in results if isinstance(r, JobRecord)]
    refused = [r for r in results if isinstance(r, QuotaRefused)]
    assert len(granted) == 10
    assert len(refused) == 40
    assert {r.reason for r in refused} == {"credits"}
    assert len({job.id for job in granted}) == 10
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.remaining) == (10, 0)
    assert sorted(job.id for job in await jobs.unfinished_jobs()) == sorted(job.id for job in granted)


async def test_concurrent_requests_respect_the_job_cap(
    jobs: JobStore, quota: QuotaService, submit: Submit
) -> None:
    async def attempt() -> JobRecord | QuotaRefused:
        try:
            return await submit(USER, max_active=2)
        except QuotaRefused as refused:
            return refused

    results = await asyncio.gather(*(attempt() for _ in range(20)))

    assert sum(isinstance(r, JobRecord) for r in results) == 2
    assert {r.reason for r in results if isinstance(r, QuotaRefused)} == {"job_cap"}
    assert len(await jobs.user_active_jobs(USER)) == 2
    assert (await quota.status(GUILD, USER, [])).used == 2


async def test_concurrent_spending_takes_allowance_then_grants_and_never_more(
    quota: QuotaService, submit: Submit
) -> None:
    await quota.set_default(GUILD, credits=4, period="daily", actor_id=ADMIN)
    await quota.grant(GUILD, USER, 6, actor_id=ADMIN)

    results = await asyncio.gather(*(_attempt(submit) for _ in range(50)))

    assert sum(isinstance(r, JobRecord) for r in results) == 10
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.granted, status.remaining) == (4, 0, 0)


async def test_refund_happens_exactly_once_when_retried_concurrently(
    jobs: JobStore, quota: QuotaService, submit: Submit
) -> None:
    await quota.set_default(GUILD, credits=3, period="daily", actor_id=ADMIN)
    job = await submit(USER)
    assert (await quota.status(GUILD, USER, [])).remaining == 2

    outcomes = await asyncio.gather(
        *(jobs.mark_failed(job.id, "engine crashed") for _ in range(10)),
        *(jobs.mark_cancelled(job.id) for _ in range(10)),
    )

    assert outcomes.count(True) == 1
    assert (await quota.status(GUILD, USER, [])).remaining == 3
    # Sequential retries, and a late success report, change nothing.
    assert await jobs.mark_failed(job.id, "again") is False
    assert await jobs.mark_cancelled(job.id) is False
    assert await jobs.mark_succeeded(job.id, images=[], grid_path=None, seeds=[1], model="m") is False
    assert (await quota.status(GUILD, USER, [])).remaining == 3
    ended = await jobs.get_job(job.id)
    assert ended is not None and ended.status in {"failed", "cancelled"}


async def test_success_commits_and_cannot_be_refunded_afterwards(
    jobs: JobStore, quota: QuotaService, submit: Submit
) -> None:
    await quota.set_default(GUILD, credits=3, period="daily", actor_id=ADMIN)
    job = await submit(USER)
    assert await jobs.mark_running(job.id)
    assert await jobs.mark_running(job.id) is False
    assert await jobs.mark_succeeded(job.id, images=[], grid_path="g.png", seeds=[5, 6, 7, 8], model="m")

    assert await jobs.mark_failed(job.id, "late failure") is False
    assert (await quota.status(GUILD, USER, [])).remaining == 2
    done = await jobs.get_job(job.id)
    assert done is not None and done.status == "succeeded" and done.seeds == [5, 6, 7, 8]
