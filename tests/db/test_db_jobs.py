"""Job rows: what is stored, restart recovery, and the audit trail of admin changes."""

from __future__ import annotations

from datetime import timedelta

from bot.db import ImageRow, JobStore, QuotaService, open_database
from tests.db.support import ADMIN, CHANNEL, GUILD, Clock, Submit

USER = 77


async def test_job_row_keeps_everything(jobs: JobStore, submit: Submit, clock: Clock) -> None:
    parent = await submit(USER, prompt="a red fox --ar 3:2")
    assert (parent.kind, parent.status, parent.channel_id, parent.params) == ("imagine", "queued", CHANNEL,
                                                                              {"ar": "1:1"})  # fmt: skip
    assert parent.created_at == clock.now and parent.message_id is None

    await jobs.set_message(parent.id, 123456789012345678)
    clock.advance(seconds=5)
    assert await jobs.mark_running(parent.id)
    clock.advance(seconds=30)
    tiles = [ImageRow(tile, 100 + tile, f"/data/{parent.id}/{tile}.png", 512, 768) for tile in (1, 2, 3, 4)]
    assert await jobs.mark_succeeded(
        parent.id, images=tiles, grid_path="/data/grid.webp", seeds=[101, 102, 103, 104], model="default"
    )

    stored = await jobs.get_job(parent.id)
    assert stored is not None
    assert stored.message_id == 123456789012345678 and stored.model == "default"
    assert stored.finished_at is not None and stored.started_at is not None
    assert stored.finished_at - stored.started_at == timedelta(seconds=30)
    image = await jobs.get_image(parent.id, 3)
    assert image is not None and (image.seed, image.height) == (103, 768)
    assert await jobs.get_image(parent.id, 5) is None
    assert await jobs.get_job(999_999) is None

    child = await submit(USER, kind="upscale")
    assert child.kind == "upscale"


async def test_restart_with_unfinished_jobs_refunds_each_once(database_url: str, clock: Clock) -> None:
    db = await open_database(database_url)
    jobs, quota = JobStore(db, now=clock), QuotaService(db, now=clock)
    await quota.set_default(GUILD, credits=5, period="daily", actor_id=ADMIN)
    await quota.grant(GUILD, USER, 1, actor_id=ADMIN)
    made = [
        await jobs.create_job(
            kind="imagine", user_id=USER, guild_id=GUILD, channel_id=CHANNEL, role_ids=[], prompt=f"p{i}",
            params={}, model=None, max_active=10,
        )
        for i in range(6)
    ]  # fmt: skip
    await jobs.mark_running(made[0].id)
    await jobs.mark_succeeded(made[1].id, images=[], grid_path=None, seeds=[1], model="m")
    await jobs.mark_running(made[2].id)
    assert await jobs.requeue(made[2].id)  # a clean shutdown puts the running job back in the queue
    await db.close()  # "crash": made[0] running, made[2..5] queued, all reserved

    db = await open_database(database_url)
    try:
        jobs, quota = JobStore(db, now=clock), QuotaService(db, now=clock)
        unfinished = await jobs.unfinished_jobs()
        assert [job.id for job in unfinished] == [made[0].id, *(job.id for job in made[2:])]
        assert {job.status for job in unfinished} == {"running", "queued"}
        status = await quota.status(GUILD, USER, [])
        assert (status.used, status.granted) == (5, 0)

        # Recovery fails them all; running it twice (a crash during recovery) refunds nothing more.
        for _ in range(2):
            for job in unfinished:
                await jobs.mark_failed(job.id, "The bot restarted before this job finished.")
        status = await quota.status(GUILD, USER, [])
        assert (status.used, status.granted) == (1, 1)  # only the succeeded job stays charged
        assert await jobs.unfinished_jobs() == []
        assert await jobs.user_active_jobs(USER) == []
    finally:
        await db.close()


async def test_every_admin_change_is_audited(quota: QuotaService, clock: Clock) -> None:
    await quota.set_default(GUILD, credits=30, period="weekly", actor_id=ADMIN)
    await quota.set_role(GUILD, 5, credits=50, actor_id=ADMIN)
    await quota.set_user(GUILD, USER, "unlimited", actor_id=ADMIN)
    await quota.grant(GUILD, USER, 4, actor_id=ADMIN)
    await quota.reset_user(GUILD, USER, actor_id=ADMIN)
    await quota.block(GUILD, USER, actor_id=ADMIN)
    await quota.unblock(GUILD, USER, actor_id=ADMIN)
    await quota.set_cost(GUILD, "upscale", 2, actor_id=ADMIN)
    await quota.add_blocked_word(GUILD, "gore", actor_id=ADMIN)
    await quota.remove_blocked_word(GUILD, "gore", actor_id=ADMIN)
    await quota.set_job_cap(GUILD, max_active=4, actor_id=ADMIN)
    await quota.set_default(GUILD + 1, credits=1, period="daily", actor_id=ADMIN + 1)  # another guild

    entries = await quota.audit_log(GUILD, limit=20)
    assert [e.action for e in entries] == [
        "job-cap", "blocked-words remove", "blocked-words add", "cost", "unblock", "block", "reset", "grant",
        "set-user", "set-role", "set-default",
    ]  # fmt: skip
    assert {e.actor_id for e in entries} == {ADMIN} and entries[0].created_at == clock.now
    assert entries[-1].details == "30 credits weekly" and entries[7].target_id == USER
    assert len(await quota.audit_log(GUILD, limit=3)) == 3
    status = await quota.status(GUILD, 123, [5])
    assert (status.allowance, status.period, status.costs["upscale"], status.max_active) == (
        50,
        "weekly",
        2,
        4,
    )


async def test_reset_clears_the_override_and_refills_the_period_but_keeps_a_block(
    quota: QuotaService, submit: Submit
) -> None:
    await quota.set_default(GUILD, credits=3, period="monthly", actor_id=ADMIN)
    await quota.set_user(GUILD, USER, 2, actor_id=ADMIN)
    await submit(USER)
    await submit(USER)
    assert (await quota.status(GUILD, USER, [])).remaining == 0
    await quota.reset_user(GUILD, USER, actor_id=ADMIN)
    status = await quota.status(GUILD, USER, [])
    assert (status.allowance, status.remaining) == (3, 3)

    await quota.block(GUILD, USER, actor_id=ADMIN)
    await quota.reset_user(GUILD, USER, actor_id=ADMIN)
    assert (await quota.status(GUILD, USER, [])).blocked
