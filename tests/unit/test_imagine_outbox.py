"""The job lifecycle in the runner, with a real SQLite file, the real queue and an engine that waits for the
test: a result is recorded before it is posted, a cancel wins in every window before that, and a result that
cannot be recorded is never posted (the job is failed and refunded)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.config import Settings
from bot.db import Database, ImageRow, JobRecord, JobStore, QuotaService, open_database
from bot.db.models import Reservation
from bot.imagine import _requests, _text
from bot.imagine._runner import INTERNAL_ERROR, JobContext, JobRunner
from bot.queue import JobQueue
from engine.api import GenerationResult, ModelInfo, ProgressCallback, Request
from engine.errors import Cancelled
from engine.prompt import parse_prompt

GUILD, CHANNEL, USER = 10, 20, 30
HEAD = f"**a red circle --seed 7** - <@{USER}>"

Hook = Callable[[int], Awaitable[None]]


def _png(size: int, shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (shade, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


RESULT = GenerationResult(
    kind="imagine",
    images=tuple(_png(8, shade) for shade in (10, 20, 30, 40)),
    seeds=(7, 8, 9, 10),
    width=8,
    height=8,
    model="fake",
    grid=_png(16, 50),
)


class WaitingEngine:
    """Renders nothing until ``gate`` opens; like the local engine, a cancel for a job it does not (yet or
    any more) know is not remembered."""

    default_model = "fake"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started: list[int] = []
        self._known: set[str] = set()
        self._cancelled: set[str] = set()

    def models(self) -> list[ModelInfo]:
        return []

    async def run(self, request: Request, *, job_id: str, on_progress: ProgressCallback | None = None) -> Any:
        self.started.append(int(job_id))
        self._known.add(job_id)
        try:
            while not self.gate.is_set():
                if job_id in self._cancelled:
                    raise Cancelled()
                await asyncio.sleep(0.005)
        finally:
            self._known.discard(job_id)
        return RESULT

    def cancel(self, job_id: str) -> bool:
        if job_id not in self._known:
            return False
        self._cancelled.add(job_id)
        return True

    async def close(self) -> None:
        return None


class HookedStore(JobStore):
    """The real store; a test's hook runs inside chosen steps ("the cancel arrives right here")."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.before_running: Hook | None = None
        self.after_running: Hook | None = None
        self.before_recording: Hook | None = None
        self.recording_fails = False

    async def mark_running(self, job_id: int) -> bool:
        if self.before_running is not None:
            await self.before_running(job_id)
        changed = await super().mark_running(job_id)
        if self.after_running is not None:
            await self.after_running(job_id)
        return changed

    async def mark_succeeded(self, job_id: int, **kwargs: Any) -> bool:
        if self.before_recording is not None:
            await self.before_recording(job_id)
        if self.recording_fails:
            raise OperationalError("INSERT INTO images", {}, Exception("database or disk is full"))
        return await super().mark_succeeded(job_id, **kwargs)


class RecordingStatus:
    """Stands in for the job's StatusMessage: records what the user would see, and what the database said
    about the job at the moment its result was posted."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.shown: list[str] = []
        self.finished: list[str] = []
        self.posted: list[tuple[str, list[tuple[str, bytes]]]] = []
        self.job_when_posted: JobRecord | None = None
        self.images_when_posted = 0
        self.message_id: int | None = 555
        self.job_id = 0

    async def show(self, content: str, **_: object) -> bool:
        self.shown.append(content)
        return True

    async def finish(self, content: str, *, attachments: Any = (), view: Any = None) -> bool:
        self.finished.append(content)
        if attachments:
            self.posted.append((content, list(attachments)))
            self.job_when_posted = await self.store.get_job(self.job_id)
            self.images_when_posted = len(await self.store.get_images(self.job_id))
        return True


class Bench:
    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.store = HookedStore(db)
        self.quota = QuotaService(db)
        self.engine = WaitingEngine()
        self.queue = JobQueue(
            max_waiting=5, per_user_cap=5, cancel_running=lambda job_id: self.engine.cancel(str(job_id))
        )
        self.settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
        self.runner = JobRunner(
            store=self.store, engine=self.engine, queue=self.queue, settings=self.settings
        )
        self.queue.start()

    async def submit(self, prompt: str = "a red circle --seed 7") -> tuple[JobRecord, RecordingStatus]:
        params = _requests.generate_params(parse_prompt(prompt).request)
        job = await self.store.create_job(
            kind="imagine",
            user_id=USER,
            guild_id=GUILD,
            channel_id=CHANNEL,
            role_ids=(),
            prompt=_requests.display_prompt(params),
            params=params,
            model=None,
            max_active=5,
        )
        status = RecordingStatus(self.store)
        status.job_id = job.id
        slot = self.queue.reserve(USER, guild_id=GUILD)
        await self.runner.submit(slot, JobContext(job=job, status=status))  # type: ignore[arg-type]
        return job, status

    async def settle(self) -> None:
        await asyncio.wait_for(self.queue.join(), 10)
        await asyncio.wait_for(self.runner.close(), 10)

    async def remaining(self) -> int | None:
        return (await self.quota.status(GUILD, USER)).remaining

    async def reservation(self, job_id: int) -> str | None:
        async with self.store._db.reader() as session:
            return await session.scalar(select(Reservation.status).where(Reservation.job_id == job_id))

    async def close(self) -> None:
        await self.queue.stop(grace_s=1)


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.sqlite3'}")
    made = Bench(db, tmp_path)
    try:
        yield made
    finally:
        await made.close()
        await db.close()


async def _wait(predicate: Callable[[], object]) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


# -- the outbox ------------------------------------------------------------------------------------------


async def test_the_result_is_recorded_before_it_is_posted_and_its_message_after(bench: Bench) -> None:
    full = await bench.remaining()
    bench.engine.gate.set()
    job, status = await bench.submit()
    await bench.settle()

    assert [content for content, _ in status.posted] == [HEAD]
    name, data = status.posted[0][1][0]
    assert name == f"grid-{job.id}.png" and data == RESULT.grid  # the PNG itself: it fits
    # When the grid reached Discord, its job was already finished with its four images (U1–U4 work).
    seen = status.job_when_posted
    assert seen is not None and seen.status == "succeeded" and seen.posted_at is None
    assert status.images_when_posted == 4
    done = await bench.store.get_job(job.id)
    assert done is not None and done.status == "succeeded" and done.posted_at is not None
    assert done.message_id == 555 and done.seeds == [7, 8, 9, 10]
    assert await bench.reservation(job.id) == "committed"
    assert await bench.remaining() == full - 1  # type: ignore[operator]
    assert await bench.store.ready_to_post() == []


async def test_a_result_discord_refuses_is_failed_and_refunded_once(bench: Bench) -> None:
    full = await bench.remaining()
    job = await bench.store.create_job(
        kind="imagine", user_id=USER, guild_id=GUILD, channel_id=CHANNEL, role_ids=(), prompt="p",
        params={}, model=None, max_active=5,
    )  # fmt: skip
    assert await bench.store.mark_running(job.id)
    rows = [ImageRow(1, 7, "t.png", 8, 8)]
    assert await bench.store.mark_succeeded(job.id, images=rows, grid_path="g.png", seeds=[7], model="m")
    assert [j.id for j in await bench.store.ready_to_post()] == [job.id]
    assert await bench.store.mark_undeliverable(job.id, "refused")
    assert not await bench.store.mark_undeliverable(job.id, "refused")
    assert not await bench.store.mark_posted(job.id, 99)
    assert await bench.reservation(job.id) == "refunded" and await bench.remaining() == full


# -- a result that cannot be recorded is never posted ------------------------------------------------------


async def test_a_result_the_database_cannot_record_is_not_posted_and_is_refunded(bench: Bench) -> None:
    full = await bench.remaining()
    bench.store.recording_fails = True
    bench.engine.gate.set()
    job, status = await bench.submit()
    await bench.settle()

    assert status.posted == []
    assert status.finished == [_text.failed(HEAD, INTERNAL_ERROR)]
    assert not (bench.settings.images_dir / str(job.id)).exists()
    ended = await bench.store.get_job(job.id)
    assert ended is not None and ended.status == "failed" and not ended.active
    assert await bench.store.unfinished_jobs() == []  # not counted against the cap, not re-run at start-up
    assert await bench.reservation(job.id) == "refunded" and await bench.remaining() == full


async def test_a_result_that_cannot_be_stored_on_disk_is_not_posted_and_is_refunded(bench: Bench) -> None:
    full = await bench.remaining()
    bench.settings.data_dir.mkdir(parents=True)
    bench.settings.images_dir.write_text("not a folder")  # writing the tiles fails as on a full disk
    bench.engine.gate.set()
    job, status = await bench.submit()
    await bench.settle()

    assert status.posted == [] and status.finished == [_text.failed(HEAD, INTERNAL_ERROR)]
    ended = await bench.store.get_job(job.id)
    assert ended is not None and ended.status == "failed"
    assert await bench.remaining() == full


# -- a cancel wins in every window ---------------------------------------------------------------------------


async def _assert_cancelled(bench: Bench, job: JobRecord, status: RecordingStatus, full: int | None) -> None:
    await bench.settle()
    ended = await bench.store.get_job(job.id)
    assert ended is not None and ended.status == "cancelled"
    assert status.posted == [] and status.finished == [_text.cancelled(HEAD)]
    assert await bench.reservation(job.id) == "refunded" and await bench.remaining() == full
    assert await bench.store.get_images(job.id) == []
    assert not (bench.settings.images_dir / str(job.id)).exists()


async def test_a_cancel_while_the_job_waits_in_the_queue(bench: Bench) -> None:
    first, _ = await bench.submit("a blue square")
    await _wait(lambda: bench.engine.started)
    full = await bench.remaining()
    job, status = await bench.submit()
    answers = await bench.runner.cancel(job)
    bench.engine.gate.set()
    assert answers == f"Cancelled job #{job.id}; nothing was charged."
    await _assert_cancelled(bench, job, status, full)
    assert bench.engine.started == [first.id]


async def test_a_cancel_as_the_queue_starts_the_job_before_it_is_marked_running(bench: Bench) -> None:
    full = await bench.remaining()
    answers: list[str] = []

    async def cancel_now(job_id: int) -> None:
        bench.store.before_running = None
        job = await bench.store.get_job(job_id)
        assert job is not None
        answers.append(await bench.runner.cancel(job))

    bench.store.before_running = cancel_now
    bench.engine.gate.set()
    job, status = await bench.submit()
    await _assert_cancelled(bench, job, status, full)
    assert bench.engine.started == [] and "nothing was charged" in answers[0].lower()


async def test_a_cancel_after_it_is_marked_running_before_the_engine_knows_it(bench: Bench) -> None:
    full = await bench.remaining()
    answers: list[str] = []

    async def cancel_now(job_id: int) -> None:
        bench.store.after_running = None
        job = await bench.store.get_job(job_id)
        assert job is not None
        answers.append(await bench.runner.cancel(job))

    bench.engine.gate.set()
    bench.store.after_running = cancel_now
    job, status = await bench.submit()
    await _assert_cancelled(bench, job, status, full)
    assert bench.engine.started == [], "the engine must not render a cancelled job"
    assert "nothing was charged" in answers[0].lower()


async def test_a_cancel_while_the_engine_renders(bench: Bench) -> None:
    full = await bench.remaining()
    job, status = await bench.submit()
    await _wait(lambda: bench.engine.started)
    answer = await bench.runner.cancel(job)
    assert answer.startswith(f"Cancelling job #{job.id}")
    await _assert_cancelled(bench, job, status, full)


async def test_a_cancel_while_the_result_is_being_stored(bench: Bench) -> None:
    full = await bench.remaining()
    answers: list[str] = []

    async def cancel_now(job_id: int) -> None:
        bench.store.before_recording = None
        job = await bench.store.get_job(job_id)
        assert job is not None
        answers.append(await bench.runner.cancel(job))

    bench.store.before_recording = cancel_now
    bench.engine.gate.set()
    job, status = await bench.submit()
    await _assert_cancelled(bench, job, status, full)
    assert bench.engine.started == [job.id] and "nothing was charged" in answers[0].lower()


async def test_a_cancel_after_the_result_is_recorded_is_refused(bench: Bench) -> None:
    bench.engine.gate.set()
    job, status = await bench.submit()
    await bench.settle()
    assert await bench.runner.cancel(job) == f"Job #{job.id} has already finished."
    done = await bench.store.get_job(job.id)
    assert done is not None and done.status == "succeeded" and len(status.posted) == 1
