"""A fair, bounded, in-process job scheduler.

Jobs wait in one FIFO per user; the worker always starts the head job of the user who was served longest
ago (a user never served, or back after a pause, comes first; ties go to the earlier job). That is round-robin
between users with waiting jobs, so one user with many jobs cannot starve the rest.

Capacity is reserved *before* work is charged (:meth:`JobQueue.reserve`), so a refusal never has to undo a
charge: a :class:`Slot` is either submitted or released. One job runs at a time (the engine serializes);
the durable state of every job lives in the database, this queue only orders them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

RUNNING = 0
"""The position of the job the worker is running."""

CancelOutcome = Literal["queued", "running"]


class QueueRefused(Exception):
    """The queue cannot take the job; ``str(error)`` is safe to show the user."""


class QueueFull(QueueRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The queue is full ({limit} waiting); please try again in a few minutes.")


class UserCapReached(QueueRefused):
    def __init__(self, cap: int) -> None:
        plural = "job" if cap == 1 else "jobs"
        super().__init__(
            f"You already have {cap} {plural} queued or running; wait for one to finish or cancel it."
        )


class QueueClosed(QueueRefused):
    def __init__(self) -> None:
        super().__init__("The bot is shutting down; please try again in a minute.")


@dataclass(eq=False)
class QueuedJob:
    """One unit of work. ``run`` does everything (engine call, upload, DB updates) and should not raise;
    ``on_position`` hears the job's position whenever it changes (``RUNNING`` = 0 when it starts)."""

    job_id: int
    user_id: int
    run: Callable[[], Awaitable[None]]
    on_position: Callable[[int], None] | None = None
    _last_position: int | None = field(default=None, repr=False)
    _seq: int = field(default=0, repr=False)


class Slot:
    """Capacity reserved for one job of ``user_id``: :meth:`submit` it or :meth:`release` it."""

    def __init__(self, queue: JobQueue, user_id: int) -> None:
        self._queue = queue
        self.user_id = user_id
        self._open = True

    def submit(self, job: QueuedJob) -> int:
        """Enqueue ``job`` in this slot and return its 1-based position (``RUNNING`` if it starts at once)."""
        if not self._open:
            raise RuntimeError("slot already used")
        if job.user_id != self.user_id:
            raise ValueError("job belongs to another user")
        self._open = False
        return self._queue._submit(self, job)

    def release(self) -> None:
        if self._open:
            self._open = False
            self._queue._release(self)

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class JobQueue:
    """Round-robin between users; ``max_waiting`` bounds the jobs waiting (reserved slots included) and
    ``per_user_cap`` bounds one user's queued + running + reserved jobs.

    ``cancel_running(job_id)`` is called to stop the running job (the engine's cancel); the job's own ``run``
    then ends it.
    """

    def __init__(
        self,
        *,
        max_waiting: int,
        per_user_cap: int,
        cancel_running: Callable[[int], object] | None = None,
    ) -> None:
        if max_waiting < 1 or per_user_cap < 1:
            raise ValueError("queue bounds must be at least 1")
        self.max_waiting = max_waiting
        self.per_user_cap = per_user_cap
        self._cancel_running = cancel_running
        self._users: dict[int, deque[QueuedJob]] = {}
        self._last_start: dict[int, int] = {}
        self._ticks = 0
        self._seq = 0
        self._reserved: dict[int, int] = {}
        self._running: QueuedJob | None = None
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    # -- capacity --------------------------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return sum(len(jobs) for jobs in self._users.values())

    @property
    def running_job_id(self) -> int | None:
        return self._running.job_id if self._running else None

    def user_load(self, user_id: int) -> int:
        """Queued + running + reserved jobs of ``user_id``."""
        running = 1 if self._running is not None and self._running.user_id == user_id else 0
        return len(self._users.get(user_id, ())) + running + self._reserved.get(user_id, 0)

    @property
    def closed(self) -> bool:
        return self._closed

    def reserve(self, user_id: int, *, force: bool = False) -> Slot:
        """Reserve room for one job of ``user_id`` or raise a :class:`QueueRefused` subclass.

        ``force`` skips the bounds (jobs already accepted and charged, resumed after a restart)."""
        if self._closed:
            raise QueueClosed()
        if not force and self.user_load(user_id) >= self.per_user_cap:
            raise UserCapReached(self.per_user_cap)
        if not force and self.waiting + sum(self._reserved.values()) >= self.max_waiting:
            raise QueueFull(self.max_waiting)
        self._reserved[user_id] = self._reserved.get(user_id, 0) + 1
        return Slot(self, user_id)

    def _unreserve(self, user_id: int) -> None:
        left = self._reserved.get(user_id, 0) - 1
        if left > 0:
            self._reserved[user_id] = left
        else:
            self._reserved.pop(user_id, None)

    def _release(self, slot: Slot) -> None:
        self._unreserve(slot.user_id)

    def _submit(self, slot: Slot, job: QueuedJob) -> int:
        self._unreserve(slot.user_id)
        if self._closed:
            raise QueueClosed()
        self._seq += 1
        job._seq = self._seq
        self._users.setdefault(job.user_id, deque()).append(job)
        self._idle.clear()
        self._wakeup.set()
        position = self.position(job.job_id)
        job._last_position = position
        self._announce_positions()  # a new user's job may go ahead of others' later jobs
        return position if position is not None else RUNNING

    # -- order -----------------------------------------------------------------------------------------------

    def _key(self, user_id: int, head: QueuedJob, last_start: dict[int, int]) -> tuple[int, int]:
        return last_start.get(user_id, -1), head._seq

    def _next_user(self, lanes: dict[int, deque[QueuedJob]], last_start: dict[int, int]) -> int | None:
        candidates = [(self._key(user, jobs[0], last_start), user) for user, jobs in lanes.items() if jobs]
        return min(candidates)[1] if candidates else None

    def order(self) -> list[QueuedJob]:
        """The waiting jobs in the order the worker will start them (if nothing else arrives)."""
        lanes = {user: deque(jobs) for user, jobs in self._users.items()}
        last_start = dict(self._last_start)
        tick = self._ticks
        ordered: list[QueuedJob] = []
        while (user := self._next_user(lanes, last_start)) is not None:
            ordered.append(lanes[user].popleft())
            tick += 1
            last_start[user] = tick
        return ordered

    def position(self, job_id: int) -> int | None:
        """``RUNNING`` (0) for the running job, 1.. for waiting jobs, ``None`` if unknown."""
        if self._running is not None and self._running.job_id == job_id:
            return RUNNING
        for index, job in enumerate(self.order(), start=1):
            if job.job_id == job_id:
                return index
        return None

    def _announce_positions(self) -> None:
        for index, job in enumerate(self.order(), start=1):
            if job._last_position != index:
                job._last_position = index
                self._notify(job, index)

    def _notify(self, job: QueuedJob, position: int) -> None:
        if job.on_position is None:
            return
        try:
            job.on_position(position)
        except Exception:
            log.exception("position callback failed for job %s", job.job_id)

    def _pop_next(self) -> QueuedJob | None:
        user = self._next_user(self._users, self._last_start)
        if user is None:
            return None
        jobs = self._users[user]
        job = jobs.popleft()
        if not jobs:
            del self._users[user]
        self._ticks += 1
        self._last_start[user] = self._ticks
        return job

    def _forget_idle_users(self) -> None:
        running = self._running.user_id if self._running is not None else None
        for user in [u for u in self._last_start if u not in self._users and u != running]:
            del self._last_start[user]

    # -- cancel ----------------------------------------------------------------------------------------------

    def cancel(self, job_id: int) -> CancelOutcome | None:
        """Remove a waiting job (``"queued"``) or ask the running one to stop (``"running"``)."""
        if self._running is not None and self._running.job_id == job_id:
            if self._cancel_running is not None:
                self._cancel_running(job_id)
            return "running"
        for user_id, jobs in list(self._users.items()):
            for job in jobs:
                if job.job_id == job_id:
                    jobs.remove(job)
                    if not jobs:
                        del self._users[user_id]
                    self._announce_positions()
                    return "queued"
        return None

    # -- worker ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="imaginebot-job-queue")

    async def _work(self) -> None:
        while not self._closed:
            job = self._pop_next()
            if job is None:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self._running = job
            job._last_position = RUNNING
            self._notify(job, RUNNING)
            self._announce_positions()
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s ended with an unhandled error", job.job_id)
            finally:
                self._running = None
                self._forget_idle_users()

    async def join(self) -> None:
        """Wait until nothing is waiting or running."""
        await self._idle.wait()

    async def stop(self, grace_s: float = 10.0) -> int | None:
        """Refuse new jobs, ask the running job to stop and wait up to ``grace_s`` for it; return its id.

        Waiting jobs are dropped from memory only: their rows stay ``queued`` for the next start.
        """
        self._closed = True
        self._wakeup.set()
        interrupted = self._running.job_id if self._running is not None else None
        if interrupted is not None and self._cancel_running is not None:
            try:
                self._cancel_running(interrupted)
            except Exception:
                log.exception("could not cancel job %s in the engine", interrupted)
        worker, self._worker = self._worker, None
        if worker is not None:
            _, pending = await asyncio.wait({worker}, timeout=grace_s)
            if pending:
                log.warning("job %s did not stop within %.0f s; cancelling it", interrupted, grace_s)
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        self._users.clear()
        self._running = None
        return interrupted
