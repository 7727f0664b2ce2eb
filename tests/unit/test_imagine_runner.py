"""The job runner when something other than the engine fails: the job still ends, refunded, with a message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from unittest.mock import create_autospec

import pytest
from sqlalchemy.exc import OperationalError

from bot.config import Settings
from bot.db import Database, JobRecord, JobStore, QuotaService, open_database
from bot.imagine._pusher import StatePusher
from bot.imagine._runner import INTERNAL_ERROR, JobContext, JobRunner
from bot.queue import JobQueue
from engine.api import Engine

GUILD, CHANNEL, USER = 10, 20, 30


class RecordingStatus:
    """Stands in for the job's StatusMessage; records what the user would see."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.finished: list[str] = []
        self.message_id: int | None = None

    async def show(self, content: str, **_: object) -> bool:
        self.shown.append(content)
        return True

    async def finish(self, content: str, **_: object) -> bool:
        self.finished.append(content)
        return True


class StartFails(JobStore):
    """The database refuses the queued → running write (e.g. the disk is full)."""

    async def mark_running(self, job_id: int) -> bool:
        raise OperationalError("UPDATE jobs", {}, Exception("database or disk is full"))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'runner.sqlite3'}")
    try:
        yield database
    finally:
        await database.close()


async def _job(store: JobStore) -> JobRecord:
    return await store.create_job(
        kind="imagine",
        user_id=USER,
        guild_id=GUILD,
        channel_id=CHANNEL,
        role_ids=(),
        prompt="a red circle",
        params={"prompt": "a red circle"},
        model=None,
        max_active=5,
    )


async def test_a_job_whose_start_cannot_be_recorded_is_failed_refunded_and_reported(
    db: Database, tmp_path: Path
) -> None:
    store, quota = StartFails(db), QuotaService(db)
    full = (await quota.status(GUILD, USER)).remaining
    job = await _job(store)
    assert (await quota.status(GUILD, USER)).remaining == full - 1  # type: ignore[operator]
    engine = create_autospec(Engine, instance=True)
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    runner = JobRunner(
        store=store, engine=engine, queue=JobQueue(max_waiting=5, per_user_cap=5), settings=settings
    )
    status = RecordingStatus()
    ctx = JobContext(job=job, status=status)  # type: ignore[arg-type]
    ctx.pusher = StatePusher(status, interval_s=0.1)  # type: ignore[arg-type]
    runner.active[job.id] = ctx

    await runner.run(ctx)

    engine.run.assert_not_called()
    ended = await store.get_job(job.id)
    assert ended is not None and ended.status == "failed" and ended.error == INTERNAL_ERROR
    assert (await quota.status(GUILD, USER)).remaining == full
    assert status.finished == [f"**a red circle** - <@{USER}> (Failed: {INTERNAL_ERROR})"]
    assert "Traceback" not in status.finished[0] and job.id not in runner.active


async def test_a_job_accepted_while_the_bot_shuts_down_is_shown_paused_and_kept_for_the_next_start(
    db: Database, tmp_path: Path
) -> None:
    store = JobStore(db)
    queue = JobQueue(max_waiting=5, per_user_cap=5)
    slot = queue.reserve(USER, guild_id=None)
    job = await _job(store)  # the check and charge, meanwhile the bot is asked to stop
    await queue.stop(grace_s=0.1)
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    runner = JobRunner(
        store=store, engine=create_autospec(Engine, instance=True), queue=queue, settings=settings
    )
    status = RecordingStatus()

    assert await runner.submit(slot, JobContext(job=job, status=status)) is None  # type: ignore[arg-type]

    assert status.shown == [
        f"**a red circle** - <@{USER}> (Paused: the bot is restarting; this job will resume)"
    ]
    assert job.id not in runner.active
    unfinished = await store.unfinished_jobs()
    assert [(j.id, j.status, j.cost) for j in unfinished] == [(job.id, "queued", 1)]
