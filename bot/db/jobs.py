"""Durable job rows and their quota reservations: one transaction to check, reserve and enqueue; at most one
terminal transition per job, which commits or refunds the reservation in the same transaction.

Results go through an outbox: :meth:`JobStore.mark_succeeded` records the images (``succeeded``, ``posted_at``
``NULL``: ready to post) before anything is sent; :meth:`JobStore.mark_posted` then records the message and
commits the charge, or :meth:`JobStore.mark_undeliverable` fails and refunds a result Discord never took."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.db import ledger, messages
from bot.db.errors import QuotaRefused
from bot.db.ledger import UsageKey
from bot.db.models import Image, Job
from bot.db.periods import next_refill
from bot.db.policy import guild_key, load_policy
from bot.db.records import ACTIONS, ACTIVE_STATUSES, ImageRecord, ImageRow, JobRecord
from bot.db.session import Database
from bot.db.words import first_blocked

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _record(job: Job) -> JobRecord:
    return JobRecord(
        id=job.id,
        kind=job.kind,
        status=job.status,
        user_id=job.user_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        message_id=job.message_id,
        prompt=job.prompt,
        params=dict(job.params or {}),
        model=job.model,
        seeds=list(job.seeds) if job.seeds is not None else None,
        cost=job.cost,
        error=job.error,
        parent_job_id=job.parent_job_id,
        parent_tile=job.parent_tile,
        grid_path=job.grid_path,
        created_at=job.created_at,
        finished_at=job.finished_at,
        started_at=job.started_at,
        posted_at=job.posted_at,
    )


class JobStore:
    """Every job is a row; creating one reserves its cost, finishing it commits or refunds the reservation."""

    def __init__(self, db: Database, *, now: Clock = utcnow) -> None:
        self._db = db
        self._now = now

    async def create_job(
        self,
        *,
        kind: str,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        role_ids: Sequence[int],
        prompt: str,
        params: dict[str, Any],
        model: str | None,
        parent_job_id: int | None = None,
        parent_tile: int | None = None,
        max_active: int,
    ) -> JobRecord:
        """Check blocked user, blocked words and the job cap, reserve the cost and insert the job as
        ``queued``, all in one transaction. Raises :class:`QuotaRefused` (nothing charged or inserted)."""
        if kind not in ACTIONS:
            raise ValueError(f"unknown job kind {kind!r}")
        job = Job(
            kind=kind,
            status="queued",
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            prompt=prompt,
            params=params,
            model=model,
            parent_job_id=parent_job_id,
            parent_tile=parent_tile,
            created_at=self._now(),
        )
        return await self._db.write(_create_job, job, list(role_ids), max_active)

    async def create_jobs(
        self,
        *,
        kind: str,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        role_ids: Sequence[int],
        items: Sequence[tuple[str, dict[str, Any], str | None]],
        max_active: int,
    ) -> list[JobRecord]:
        """Several jobs (``(prompt, params, model)`` each) in one transaction: all are charged or none is
        (:class:`QuotaRefused`). The job cap is checked once, for the set: a user with room for one more job
        may start a whole set of permutations."""
        if kind not in ACTIONS:
            raise ValueError(f"unknown job kind {kind!r}")
        now = self._now()
        jobs = [
            Job(
                kind=kind,
                status="queued",
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                prompt=prompt,
                params=params,
                model=model,
                created_at=now,
            )
            for prompt, params, model in items
        ]
        return await self._db.write(_create_jobs, jobs, list(role_ids), max_active)

    async def mark_running(self, job_id: int) -> bool:
        now = self._now()
        return await self._db.write(_transition, job_id, ("queued",), status="running", started_at=now)

    async def mark_succeeded(
        self,
        job_id: int,
        *,
        images: Sequence[ImageRow],
        grid_path: str | None,
        seeds: Sequence[int],
        model: str | None,
        message_id: int | None = None,
    ) -> bool:
        """Record the result before it is posted: store the images, ``running → succeeded`` with ``posted_at``
        ``NULL`` (ready to post); the reservation is committed when it is posted (:meth:`mark_posted`).

        ``False`` if the job had already ended (e.g. cancelled); nothing is stored then."""
        values: dict[str, Any] = {"grid_path": grid_path, "seeds": list(seeds), "model": model, "error": None}
        if message_id is not None:
            values["message_id"] = message_id
        return await self._db.write(_succeed, job_id, list(images), values, self._now())

    async def mark_posted(self, job_id: int, message_id: int | None) -> bool:
        """A recorded result was posted in ``message_id``: record the message, commit the charge; once."""
        return await self._db.write(_posted, job_id, message_id, self._now())

    async def mark_undeliverable(self, job_id: int, error: str) -> bool:
        """A recorded result that was never posted (Discord refused it, its files are gone): ``failed`` and
        refunded, once. ``False`` if it was posted meanwhile or had ended otherwise."""
        return await self._db.write(_undeliverable, job_id, error, self._now())

    async def mark_failed(self, job_id: int, error: str) -> bool:
        """queued/running → failed and refund, once. ``False`` if the job had already ended."""
        return await self._db.write(_end_with_refund, job_id, "failed", error, self._now())

    async def mark_cancelled(self, job_id: int) -> bool:
        return await self._db.write(_end_with_refund, job_id, "cancelled", None, self._now())

    async def requeue(self, job_id: int) -> bool:
        """running → queued (at shutdown); the reservation stays in place for the re-run."""
        return await self._db.write(_transition, job_id, ("running",), status="queued", started_at=None)

    async def set_message(self, job_id: int, message_id: int) -> None:
        await self._db.write(_set_message, job_id, message_id)

    async def get_job(self, job_id: int) -> JobRecord | None:
        async with self._db.reader() as session:
            job = await session.get(Job, job_id)
            return None if job is None else _record(job)

    async def get_image(self, job_id: int, tile: int) -> ImageRecord | None:
        async with self._db.reader() as session:
            image = await session.get(Image, (job_id, tile))
            return None if image is None else _image(image)

    async def get_images(self, job_id: int) -> list[ImageRecord]:
        async with self._db.reader() as session:
            rows = await session.scalars(select(Image).where(Image.job_id == job_id).order_by(Image.tile))
            return [_image(image) for image in rows]

    async def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs left queued or running (e.g. found at start-up), oldest first."""
        async with self._db.reader() as session:
            rows = await session.scalars(select(Job).where(Job.status.in_(ACTIVE_STATUSES)).order_by(Job.id))
            return [_record(job) for job in rows]

    async def ready_to_post(self) -> list[JobRecord]:
        """Results recorded but not yet posted (the last process stopped between the two), oldest first."""
        async with self._db.reader() as session:
            rows = await session.scalars(
                select(Job).where(Job.status == "succeeded", Job.posted_at.is_(None)).order_by(Job.id)
            )
            return [_record(job) for job in rows]

    async def user_active_jobs(self, user_id: int) -> list[JobRecord]:
        async with self._db.reader() as session:
            rows = await session.scalars(
                select(Job).where(Job.user_id == user_id, Job.status.in_(ACTIVE_STATUSES)).order_by(Job.id)
            )
            return [_record(job) for job in rows]


def _image(image: Image) -> ImageRecord:
    return ImageRecord(image.job_id, image.tile, image.seed, image.path, image.width, image.height)


def _create_jobs(session: Session, jobs: list[Job], role_ids: list[int], max_active: int) -> list[JobRecord]:
    return [_create_job(session, job, role_ids, max_active, check_cap=i == 0) for i, job in enumerate(jobs)]


def _create_job(
    session: Session, job: Job, role_ids: list[int], max_active: int, *, check_cap: bool = True
) -> JobRecord:
    """The body of :meth:`JobStore.create_job`, in the caller's write transaction."""
    now = job.created_at
    guild = guild_key(job.guild_id)
    policy = load_policy(session, guild, job.user_id, role_ids)
    if policy.blocked:
        raise QuotaRefused(messages.BLOCKED, reason="blocked")
    word = first_blocked(job.prompt, policy.blocked_words)
    if word is not None:
        raise QuotaRefused(messages.blocked_word(word), reason="blocked_word")
    key = UsageKey(guild, job.user_id, policy.period_start(now))
    used = ledger.lock_usage(session, key)  # serializes this user's reservations
    cap = policy.max_active if policy.max_active is not None else max_active
    active = _count_active(session, job.guild_id, job.user_id)
    if check_cap and active >= cap:
        raise QuotaRefused(messages.job_cap(active, cap), reason="job_cap")
    cost = policy.costs[job.kind]
    taken = ledger.reserve(session, key, cost=cost, limit=policy.limit, used=used)
    if taken is None:
        grants = ledger.grant_balance(session, guild, job.user_id)
        remaining = max(0, (policy.limit or 0) - used) + grants
        raise QuotaRefused(
            messages.out_of_credits(job.kind, cost, remaining, next_refill(policy.period, now)),
            reason="credits",
        )
    job.cost = taken.from_allowance + taken.from_grants
    session.add(job)
    session.flush()
    ledger.record(session, job.id, key, taken, now)
    return _record(job)


def _succeed(
    session: Session, job_id: int, images: list[ImageRow], values: dict[str, Any], now: datetime
) -> bool:
    if not _transition(session, job_id, ACTIVE_STATUSES, status="succeeded", finished_at=now, **values):
        return False
    session.add_all(
        Image(job_id=job_id, tile=i.tile, seed=i.seed, path=i.path, width=i.width, height=i.height)
        for i in images
    )
    return True


def _ready(job_id: int) -> tuple[Any, ...]:
    return (Job.id == job_id, Job.status == "succeeded", Job.posted_at.is_(None))


def _posted(session: Session, job_id: int, message_id: int | None, now: datetime) -> bool:
    values: dict[str, Any] = {"posted_at": now}
    if message_id is not None:
        values["message_id"] = message_id
    result = session.execute(
        update(Job)
        .where(*_ready(job_id))
        .values(**values)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    if result.first() is None:
        return False
    ledger.commit(session, job_id, now)
    return True


def _undeliverable(session: Session, job_id: int, error: str, now: datetime) -> bool:
    result = session.execute(
        update(Job)
        .where(*_ready(job_id))
        .values(status="failed", error=error, finished_at=now)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    if result.first() is None:
        return False
    ledger.refund(session, job_id, now)
    return True


def _end_with_refund(session: Session, job_id: int, status: str, error: str | None, now: datetime) -> bool:
    if not _transition(session, job_id, ACTIVE_STATUSES, status=status, finished_at=now, error=error):
        return False
    ledger.refund(session, job_id, now)
    return True


def _set_message(session: Session, job_id: int, message_id: int) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(message_id=message_id)
        .execution_options(synchronize_session=False)
    )


def _count_active(session: Session, guild_id: int | None, user_id: int) -> int:
    same_guild = Job.guild_id.is_(None) if guild_id is None else Job.guild_id == guild_id
    count = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, same_guild, Job.status.in_(ACTIVE_STATUSES))
    )
    return int(count or 0)


def _transition(session: Session, job_id: int, from_statuses: Sequence[str], **values: Any) -> bool:
    """``UPDATE jobs SET … WHERE id = :id AND status IN (…)``: true only for the caller that changed it."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(list(from_statuses)))
        .values(**values)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None
