"""A fair, bounded, in-process job scheduler shared by every server (guild) the bot is in.

Fair between servers first, then between users: waiting jobs sit in one FIFO per user, grouped by server
(direct messages are one more group). The worker picks the server served longest ago (a server never
served, or back after a pause, comes first; ties go to the earlier job), then in it the user served longest
ago. One server with many jobs cannot starve the others, and one user cannot starve their server.

Bounds, checked when capacity is reserved: ``max_waiting`` jobs waiting in all; ``per_guild_max`` waiting
per server (no server can fill the shared queue); ``per_user_cap`` jobs queued, running or reserved per user
across every server. Capacity is reserved *before* work is charged (:meth:`JobQueue.reserve`), so a refusal
never has to undo a charge: a :class:`Slot` is either submitted or released. As many jobs run at once as
the engine has workers (``capacity``: 1 for the in-process engine, the replicas of a Ray worker pool), started
in the fair order above. The durable state of every job lives in the database, this queue only orders them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

log = logging.getLogger(__name__)

RUNNING = 0
"""The position of a running job."""
CAPACITY_POLL_S = 1.0

CancelOutcome = Literal["queued", "running"]
_K = TypeVar("_K")


class QueueRefused(Exception):
    """The queue cannot take the job; ``str(error)`` is safe to show the user."""


class QueueFull(QueueRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The queue is full ({limit} waiting); please try again in a few minutes.")


class UserCapReached(QueueRefused):
    def __init__(self, cap: int) -> None:
        plural = "job" if cap == 1 else "jobs"
        super().__init__(
            f"You already have {cap} {plural} queued or running (in all servers together); "
            "wait for one to finish or cancel it."
        )


class GuildShareFull(QueueRefused):
    def __init__(self, limit: int, guild_id: int | None) -> None:
        where = "direct messages" if guild_id is None else "this server"
        super().__init__(
            f"The queue's share for {where} is full ({limit} waiting); please try again in a few minutes."
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
    _guild: int | None = field(default=None, repr=False)  # the server whose share it uses (from its slot)


class Slot:
    """Capacity reserved for one job of ``user_id`` in ``guild_id`` (``None``: a direct message):
    :meth:`submit` it or :meth:`release` it."""

    def __init__(self, queue: JobQueue, user_id: int, guild_id: int | None) -> None:
        self._queue = queue
        self.user_id = user_id
        self.guild_id = guild_id
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
    """Round-robin between servers, then between their users. ``max_waiting`` bounds the jobs waiting in
    all (reserved slots included), ``per_guild_max`` those of one server (default: no bound beyond
    ``max_waiting``), and ``per_user_cap`` one user's queued + running + reserved jobs in every server.

    ``cancel_running(job_id)`` is called to stop the running job (the engine's cancel); the job's own ``run``
    then ends it.
    """

    def __init__(
        self,
        *,
        max_waiting: int,
        per_user_cap: int,
        per_guild_max: int | None = None,
        cancel_running: Callable[[int], object] | None = None,
        capacity: Callable[[], int] | int = 1,
    ) -> None:
        per_guild_max = max_waiting if per_guild_max is None else per_guild_max
        if max_waiting < 1 or per_user_cap < 1 or per_guild_max < 1:
            raise ValueError("queue bounds must be at least 1")
        self.max_waiting = max_waiting
        self.per_user_cap = per_user_cap
        self.per_guild_max = min(per_guild_max, max_waiting)
        self._cancel_running = cancel_running
        self._guilds: dict[int | None, dict[int, deque[QueuedJob]]] = {}
        self._last_guild_start: dict[int | None, int] = {}
        self._last_user_start: dict[tuple[int | None, int], int] = {}
        self._ticks = 0
        self._seq = 0
        self._reserved_users: dict[int, int] = {}
        self._reserved_guilds: dict[int | None, int] = {}
        self._capacity = capacity
        self._running: dict[int, QueuedJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    # -- capacity --------------------------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return sum(len(jobs) for users in self._guilds.values() for jobs in users.values())

    @property
    def running_job_id(self) -> int | None:
        """The running job started first (``None`` when none runs)."""
        return next(iter(self._running), None)

    @property
    def running_job_ids(self) -> list[int]:
        return list(self._running)

    @property
    def capacity(self) -> int:
        """How many jobs may run at once now (the engine's workers; at least 1)."""
        capacity = self._capacity() if callable(self._capacity) else self._capacity
        return max(1, int(capacity))

    def user_load(self, user_id: int) -> int:
        """Queued + running + reserved jobs of ``user_id``, in every server."""
        running = sum(1 for job in self._running.values() if job.user_id == user_id)
        queued = sum(len(users.get(user_id, ())) for users in self._guilds.values())
        return queued + running + self._reserved_users.get(user_id, 0)

    def guild_load(self, guild_id: int | None) -> int:
        """Waiting + reserved jobs of one server (``None``: direct messages)."""
        queued = sum(len(jobs) for jobs in self._guilds.get(guild_id, {}).values())
        return queued + self._reserved_guilds.get(guild_id, 0)

    @property
    def closed(self) -> bool:
        return self._closed

    def reserve(self, user_id: int, *, guild_id: int | None, force: bool = False) -> Slot:
        """Reserve room for one job of ``user_id`` in ``guild_id`` or raise a :class:`QueueRefused` subclass.

        ``force`` skips the bounds (jobs already accepted and charged, resumed after a restart)."""
        if self._closed:
            raise QueueClosed()
        if not force:
            if self.user_load(user_id) >= self.per_user_cap:
                raise UserCapReached(self.per_user_cap)
            if self.waiting + sum(self._reserved_users.values()) >= self.max_waiting:
                raise QueueFull(self.max_waiting)
            if self.guild_load(guild_id) >= self.per_guild_max:
                raise GuildShareFull(self.per_guild_max, guild_id)
        _add(self._reserved_users, user_id, 1)
        _add(self._reserved_guilds, guild_id, 1)
        return Slot(self, user_id, guild_id)

    def _unreserve(self, slot: Slot) -> None:
        _add(self._reserved_users, slot.user_id, -1)
        _add(self._reserved_guilds, slot.guild_id, -1)

    def _release(self, slot: Slot) -> None:
        self._unreserve(slot)

    def _submit(self, slot: Slot, job: QueuedJob) -> int:
        self._unreserve(slot)
        if self._closed:
            raise QueueClosed()
        self._seq += 1
        job._seq = self._seq
        job._guild = slot.guild_id
        self._guilds.setdefault(slot.guild_id, {}).setdefault(job.user_id, deque()).append(job)
        self._idle.clear()
        self._wakeup.set()
        position = self.position(job.job_id)
        job._last_position = position
        self._announce_positions()  # a new server's or user's job may go ahead of others' later jobs
        return position if position is not None else RUNNING

    # -- order -----------------------------------------------------------------------------------------------

    @staticmethod
    def _pick(
        guilds: dict[int | None, dict[int, deque[QueuedJob]]],
        last_guild: dict[int | None, int],
        last_user: dict[tuple[int | None, int], int],
    ) -> tuple[int | None, int] | None:
        """The server served longest ago, then its user served longest ago (ties: the earlier job)."""
        best_guild: tuple[tuple[int, int], int | None] | None = None
        for guild, users in guilds.items():
            heads = [jobs[0]._seq for jobs in users.values() if jobs]
            if heads:
                key = (last_guild.get(guild, -1), min(heads))
                if best_guild is None or key < best_guild[0]:
                    best_guild = (key, guild)
        if best_guild is None:
            return None
        guild = best_guild[1]
        users = guilds[guild]
        user = min(
            (user for user, jobs in users.items() if jobs),
            key=lambda user: (last_user.get((guild, user), -1), users[user][0]._seq),
        )
        return guild, user

    def order(self) -> list[QueuedJob]:
        """The waiting jobs in the order the worker will start them (if nothing else arrives)."""
        guilds = {
            guild: {user: deque(jobs) for user, jobs in users.items()}
            for guild, users in self._guilds.items()
        }
        last_guild = dict(self._last_guild_start)
        last_user = dict(self._last_user_start)
        tick = self._ticks
        ordered: list[QueuedJob] = []
        while (picked := self._pick(guilds, last_guild, last_user)) is not None:
            guild, user = picked
            ordered.append(guilds[guild][user].popleft())
            tick += 1
            last_guild[guild] = last_user[(guild, user)] = tick
        return ordered

    def position(self, job_id: int) -> int | None:
        """``RUNNING`` (0) for the running job, 1.. for waiting jobs, ``None`` if unknown."""
        if job_id in self._running:
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
        picked = self._pick(self._guilds, self._last_guild_start, self._last_user_start)
        if picked is None:
            return None
        guild, user = picked
        job = self._remove(guild, user, None)
        self._ticks += 1
        self._last_guild_start[guild] = self._last_user_start[(guild, user)] = self._ticks
        return job

    def _remove(self, guild: int | None, user: int, job: QueuedJob | None) -> QueuedJob:
        """Take ``job`` (or the user's first job) out of its lane, dropping lanes left empty."""
        users = self._guilds[guild]
        jobs = users[user]
        if job is None:
            job = jobs.popleft()
        else:
            jobs.remove(job)
        if not jobs:
            del users[user]
            if not users:
                del self._guilds[guild]
        return job

    def _forget_idle(self) -> None:
        """Servers and users with nothing waiting or running start afresh (first in line) when they return."""
        running = {(job._guild, job.user_id) for job in self._running.values()}
        busy_guilds = set(self._guilds) | {guild for guild, _ in running}
        for guild in [g for g in self._last_guild_start if g not in busy_guilds]:
            del self._last_guild_start[guild]
        for guild, user in list(self._last_user_start):
            waiting = user in self._guilds.get(guild, {})
            is_running = (guild, user) in running
            if not waiting and not is_running:
                del self._last_user_start[(guild, user)]

    # -- cancel ----------------------------------------------------------------------------------------------

    def cancel(self, job_id: int) -> CancelOutcome | None:
        """Remove a waiting job (``"queued"``) or ask the running one to stop (``"running"``)."""
        if job_id in self._running:
            if self._cancel_running is not None:
                self._cancel_running(job_id)
            return "running"
        for guild, users in list(self._guilds.items()):
            for user_id, jobs in list(users.items()):
                for job in jobs:
                    if job.job_id == job_id:
                        self._remove(guild, user_id, job)
                        self._announce_positions()
                        return "queued"
        return None

    # -- worker ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="imaginebot-job-queue")

    async def _work(self) -> None:
        """Start the next job in fair order whenever a worker is free; each job runs in its own task."""
        while not self._closed:
            job = self._pop_next() if len(self._running) < self.capacity else None
            if job is None:
                if not self._running and not self._guilds:
                    self._idle.set()
                self._wakeup.clear()
                # Jobs waiting for a worker: look again now and then, the engine's capacity may have grown.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), CAPACITY_POLL_S if self._guilds else None)
                continue
            self._running[job.job_id] = job
            job._last_position = RUNNING
            self._notify(job, RUNNING)
            self._announce_positions()
            task = asyncio.create_task(self._run(job), name=f"imaginebot-job-{job.job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: QueuedJob) -> None:
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s ended with an unhandled error", job.job_id)
        finally:
            self._running.pop(job.job_id, None)
            self._forget_idle()
            self._wakeup.set()

    async def join(self) -> None:
        """Wait until nothing is waiting or running."""
        await self._idle.wait()

    async def stop(self, grace_s: float = 10.0) -> int | None:
        """:meth:`stop_all`, for one worker: the id of the job it interrupted, if any."""
        interrupted = await self.stop_all(grace_s)
        return interrupted[0] if interrupted else None

    async def stop_all(self, grace_s: float = 10.0) -> list[int]:
        """Refuse new jobs, ask the running jobs to stop, wait up to ``grace_s`` for them; return their ids.

        Waiting jobs are dropped from memory only: their rows stay ``queued`` for the next start.
        """
        self._closed = True
        self._wakeup.set()
        interrupted = list(self._running)
        for job_id in interrupted:
            if self._cancel_running is not None:
                try:
                    self._cancel_running(job_id)
                except Exception:
                    log.exception("could not cancel job %s in the engine", job_id)
        worker, self._worker = self._worker, None
        tasks: set[asyncio.Task[None]] = {*self._tasks, *([worker] if worker is not None else [])}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            if pending:
                log.warning("jobs %s did not stop within %.0f s; cancelling them", interrupted, grace_s)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        self._guilds.clear()
        self._running.clear()
        return interrupted


def _add(counts: dict[_K, int], key: _K, delta: int) -> None:
    left = counts.get(key, 0) + delta
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
