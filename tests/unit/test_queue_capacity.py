"""The scheduler with several workers (``capacity``): as many jobs run at once as the engine has workers,
still started in fair order, with per-user caps counting every running job and positions for the rest."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from bot.queue import RUNNING, JobQueue, QueuedJob, UserCapReached


class Gates:
    def __init__(self) -> None:
        self.started: list[int] = []
        self.running: set[int] = set()
        self.most_at_once = 0
        self.gates: dict[int, asyncio.Event] = {}
        self.positions: dict[int, list[int]] = {}

    def job(self, job_id: int, user_id: int) -> QueuedJob:
        gate = self.gates.setdefault(job_id, asyncio.Event())

        async def run() -> None:
            self.started.append(job_id)
            self.running.add(job_id)
            self.most_at_once = max(self.most_at_once, len(self.running))
            try:
                await gate.wait()
            finally:
                self.running.discard(job_id)

        return QueuedJob(
            job_id, user_id, run, on_position=lambda p: self.positions.setdefault(job_id, []).append(p)
        )


def submit(queue: JobQueue, gates: Gates, job_id: int, user_id: int) -> int:
    extra = {"guild_id": 1} if "guild_id" in inspect.signature(queue.reserve).parameters else {}
    return queue.reserve(user_id, **extra).submit(gates.job(job_id, user_id))


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_jobs_run_as_many_at_once_as_the_engine_has_workers_in_fair_order() -> None:
    workers = 2
    queue = JobQueue(max_waiting=20, per_user_cap=5, capacity=lambda: workers)
    gates = Gates()
    for job_id in (1, 2, 3):
        submit(queue, gates, job_id, user_id=100)
    for job_id in (11, 12):
        submit(queue, gates, job_id, user_id=200)
    queue.start()
    await settle()
    assert gates.started == [1, 11] and queue.running_job_ids == [1, 11]
    assert queue.position(1) == queue.position(11) == RUNNING
    assert [queue.position(job_id) for job_id in (2, 12, 3)] == [1, 2, 3]
    gates.gates[11].set()
    await settle()
    assert gates.started == [1, 11, 2]  # user 100's turn again: user 200 was served last
    assert gates.positions[12][-1] == 1 and gates.positions[3][-1] == 2
    workers = 3  # the pool grew (e.g. an autoscaled replica): the next job starts without another finishing
    await asyncio.sleep(1.2)
    assert gates.started == [1, 11, 2, 12]
    for gate in gates.gates.values():
        gate.set()
    await asyncio.wait_for(queue.join(), 5)
    assert gates.started == [1, 11, 2, 12, 3] and gates.most_at_once == 3
    await queue.stop_all()


async def test_a_users_running_jobs_count_against_their_cap() -> None:
    queue = JobQueue(max_waiting=20, per_user_cap=2, capacity=4)
    gates = Gates()
    submit(queue, gates, 1, user_id=100)
    submit(queue, gates, 2, user_id=100)
    queue.start()
    await settle()
    assert queue.running_job_ids == [1, 2] and queue.user_load(100) == 2
    with pytest.raises(UserCapReached):
        submit(queue, gates, 3, user_id=100)
    assert queue.cancel(2) == "running"


async def test_stop_all_cancels_every_running_job_and_returns_their_ids() -> None:
    cancelled: list[int] = []
    gates = Gates()
    queue = JobQueue(max_waiting=20, per_user_cap=5, capacity=2, cancel_running=cancelled.append)
    for job_id, user in ((1, 100), (2, 200), (3, 300)):
        submit(queue, gates, job_id, user_id=user)
    queue.start()
    await settle()

    def stop_on_cancel(job_id: int) -> None:
        cancelled.append(job_id)
        gates.gates[job_id].set()

    queue._cancel_running = stop_on_cancel
    assert await queue.stop_all(grace_s=5) == [1, 2]
    assert sorted(cancelled) == [1, 2] and gates.started == [1, 2] and not gates.running
