"""The fair job scheduler: round-robin between servers, then users; bounds, positions, cancel and stop."""

from __future__ import annotations

import asyncio

import pytest

from bot.queue import (
    RUNNING,
    GuildShareFull,
    JobQueue,
    QueueClosed,
    QueuedJob,
    QueueFull,
    UserCapReached,
)

GUILD = 1


class Recorder:
    """Jobs that record their start order and block until released."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.positions: dict[int, list[int]] = {}

    def job(self, job_id: int, user_id: int) -> QueuedJob:
        gate = self.gates.setdefault(job_id, asyncio.Event())

        async def run() -> None:
            self.started.append(job_id)
            await gate.wait()

        return QueuedJob(
            job_id=job_id,
            user_id=user_id,
            run=run,
            on_position=lambda pos: self.positions.setdefault(job_id, []).append(pos),
        )

    async def finish(self, job_id: int) -> None:
        self.gates[job_id].set()
        for _ in range(5):
            await asyncio.sleep(0)


def submit(queue: JobQueue, rec: Recorder, job_id: int, user_id: int, guild_id: int | None = GUILD) -> int:
    return queue.reserve(user_id, guild_id=guild_id).submit(rec.job(job_id, user_id))


async def drain(queue: JobQueue, rec: Recorder) -> None:
    while queue.running_job_id is not None or queue.waiting:
        running = queue.running_job_id
        if running is not None:
            await rec.finish(running)
        else:
            await asyncio.sleep(0)


async def test_round_robin_between_users() -> None:
    queue = JobQueue(max_waiting=20, per_user_cap=5)
    rec = Recorder()
    for job_id in (1, 2, 3):
        submit(queue, rec, job_id, user_id=100)
    for job_id in (11, 12):
        submit(queue, rec, job_id, user_id=200)
    submit(queue, rec, 21, user_id=300)
    assert [job.job_id for job in queue.order()] == [1, 11, 21, 2, 12, 3]
    queue.start()
    await asyncio.sleep(0)
    await drain(queue, rec)
    assert rec.started == [1, 11, 21, 2, 12, 3]
    await queue.stop()


async def test_new_user_goes_before_a_heavy_users_next_job() -> None:
    queue = JobQueue(max_waiting=20, per_user_cap=5)
    rec = Recorder()
    for job_id in (1, 2, 3):
        submit(queue, rec, job_id, user_id=100)
    queue.start()
    await asyncio.sleep(0)
    assert queue.running_job_id == 1
    # A second user arrives while user 100's first job runs: they are next, not after 100's backlog.
    assert submit(queue, rec, 50, user_id=200) == 1
    assert queue.position(2) == 2
    assert rec.positions[2][-1] == 2  # told that it moved back
    await drain(queue, rec)
    assert rec.started == [1, 50, 2, 3]
    await queue.stop()


async def test_positions_are_announced_as_the_queue_moves() -> None:
    queue = JobQueue(max_waiting=20, per_user_cap=5)
    rec = Recorder()
    assert submit(queue, rec, 1, user_id=1) == 1
    assert submit(queue, rec, 2, user_id=2) == 2
    assert submit(queue, rec, 3, user_id=3) == 3
    queue.start()
    await asyncio.sleep(0)
    assert queue.position(1) == RUNNING
    assert queue.position(3) == 2
    await rec.finish(1)
    assert queue.position(3) == 1
    await rec.finish(2)
    assert rec.positions[3] == [2, 1, RUNNING]
    assert rec.positions[1] == [RUNNING]
    assert queue.position(99) is None
    await drain(queue, rec)
    await queue.stop()


async def test_per_user_cap_counts_queued_running_and_reserved() -> None:
    queue = JobQueue(max_waiting=20, per_user_cap=2)
    rec = Recorder()
    submit(queue, rec, 1, user_id=7)
    queue.start()
    await asyncio.sleep(0)
    assert queue.running_job_id == 1
    slot = queue.reserve(7, guild_id=GUILD)
    with pytest.raises(UserCapReached) as refused:
        queue.reserve(7, guild_id=GUILD)
    assert "2 jobs" in str(refused.value)
    slot.release()
    submit(queue, rec, 2, user_id=7)  # released capacity is usable again
    queue.reserve(8, guild_id=GUILD).release()  # other users are unaffected
    await drain(queue, rec)
    assert queue.user_load(7) == 0
    await queue.stop()


async def test_global_bound_refuses_with_queue_full() -> None:
    queue = JobQueue(max_waiting=3, per_user_cap=10)
    rec = Recorder()
    submit(queue, rec, 1, user_id=1)
    submit(queue, rec, 2, user_id=2)
    held = queue.reserve(3, guild_id=GUILD)
    with pytest.raises(QueueFull) as refused:
        queue.reserve(4, guild_id=GUILD)
    assert "queue is full" in str(refused.value)
    with held:
        pass  # leaving the block releases the slot
    submit(queue, rec, 3, user_id=4)
    assert queue.waiting == 3


async def test_slot_cannot_be_used_twice_or_for_another_user() -> None:
    queue = JobQueue(max_waiting=3, per_user_cap=3)
    rec = Recorder()
    slot = queue.reserve(1, guild_id=GUILD)
    with pytest.raises(ValueError):
        slot.submit(rec.job(1, user_id=2))
    slot.submit(rec.job(1, user_id=1))
    with pytest.raises(RuntimeError):
        slot.submit(rec.job(2, user_id=1))


async def test_cancel_queued_and_running_jobs() -> None:
    cancelled: list[int] = []
    queue = JobQueue(max_waiting=10, per_user_cap=5, cancel_running=cancelled.append)
    rec = Recorder()
    for job_id, user in ((1, 1), (2, 2), (3, 3)):
        submit(queue, rec, job_id, user)
    queue.start()
    await asyncio.sleep(0)
    assert queue.cancel(2) == "queued"
    assert queue.position(2) is None
    assert rec.positions[3][-1] == 1
    assert queue.cancel(1) == "running"
    assert cancelled == [1]
    assert queue.cancel(42) is None
    await drain(queue, rec)
    assert rec.started == [1, 3]
    await queue.stop()


async def test_a_failing_job_does_not_stop_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    queue = JobQueue(max_waiting=10, per_user_cap=5)
    done: list[int] = []

    async def boom() -> None:
        raise RuntimeError("engine exploded")

    async def fine() -> None:
        done.append(2)

    queue.reserve(1, guild_id=GUILD).submit(QueuedJob(job_id=1, user_id=1, run=boom))
    queue.reserve(2, guild_id=GUILD).submit(QueuedJob(job_id=2, user_id=2, run=fine))
    queue.start()
    await asyncio.wait_for(queue.join(), 5)
    assert done == [2]
    assert "job 1 ended with an unhandled error" in caplog.text
    await queue.stop()


async def test_stop_asks_the_running_job_to_end_and_refuses_new_ones() -> None:
    rec = Recorder()
    cancelled: list[int] = []

    def cancel(job_id: int) -> None:  # like the engine: the running job ends soon after
        cancelled.append(job_id)
        rec.gates[job_id].set()

    queue = JobQueue(max_waiting=10, per_user_cap=5, cancel_running=cancel)
    submit(queue, rec, 1, user_id=1)
    submit(queue, rec, 2, user_id=2)
    queue.start()
    await asyncio.sleep(0)
    assert await queue.stop(grace_s=5) == 1
    assert cancelled == [1]
    assert rec.started == [1]  # job 2 never started; its row stays queued for the next start
    with pytest.raises(QueueClosed):
        queue.reserve(3, guild_id=GUILD)


async def test_stop_cancels_a_job_that_ignores_the_request() -> None:
    queue = JobQueue(max_waiting=10, per_user_cap=5, cancel_running=lambda job_id: None)
    rec = Recorder()
    submit(queue, rec, 1, user_id=1)
    queue.start()
    await asyncio.sleep(0)
    assert await queue.stop(grace_s=0.05) == 1
    assert queue.running_job_id is None


async def test_forced_reservations_skip_the_bounds() -> None:
    queue = JobQueue(max_waiting=1, per_user_cap=1)
    rec = Recorder()
    submit(queue, rec, 1, user_id=1)
    with pytest.raises(UserCapReached):
        queue.reserve(1, guild_id=GUILD)
    queue.reserve(1, guild_id=GUILD, force=True).submit(rec.job(2, user_id=1))
    assert [job.job_id for job in queue.order()] == [1, 2]


async def test_round_robin_between_servers_first_then_their_users() -> None:
    queue = JobQueue(max_waiting=50, per_user_cap=10)
    rec = Recorder()
    # Server A: three users with many jobs; server B: one user; DMs: one user.
    for job_id, user in ((1, 10), (2, 10), (3, 11), (4, 11), (5, 12), (6, 12)):
        submit(queue, rec, job_id, user, guild_id=100)
    for job_id in (21, 22, 23):
        submit(queue, rec, job_id, 20, guild_id=200)
    submit(queue, rec, 31, 30, guild_id=None)
    expected = [1, 21, 31, 3, 22, 5, 23, 2, 4, 6]
    assert [job.job_id for job in queue.order()] == expected
    assert [queue.position(job_id) for job_id in expected] == list(range(1, 11))
    queue.start()
    await asyncio.sleep(0)
    await drain(queue, rec)
    assert rec.started == expected
    await queue.stop()


async def test_a_busy_server_does_not_delay_a_new_one_and_positions_follow() -> None:
    queue = JobQueue(max_waiting=50, per_user_cap=10)
    rec = Recorder()
    for job_id, user in ((1, 10), (2, 11), (3, 12)):
        submit(queue, rec, job_id, user, guild_id=100)
    queue.start()
    await asyncio.sleep(0)
    assert queue.running_job_id == 1
    assert queue.position(3) == 2
    # Another server's first job goes next, ahead of server 100's waiting jobs, who are told they moved.
    assert submit(queue, rec, 50, 20, guild_id=200) == 1
    assert rec.positions[2][-1] == 2 and rec.positions[3][-1] == 3
    await drain(queue, rec)
    assert rec.started == [1, 50, 2, 3]
    await queue.stop()


async def test_one_server_cannot_fill_the_shared_queue() -> None:
    queue = JobQueue(max_waiting=10, per_user_cap=10, per_guild_max=3)
    rec = Recorder()
    for job_id, user in ((1, 10), (2, 11), (3, 12)):
        submit(queue, rec, job_id, user, guild_id=100)
    held = queue.reserve(13, guild_id=200)  # reservations count towards their server's share
    with pytest.raises(GuildShareFull) as refused:
        queue.reserve(13, guild_id=100)
    assert "this server" in str(refused.value) and "3 waiting" in str(refused.value)
    submit(queue, rec, 4, 14, guild_id=None)  # other servers and DMs still get in
    held.release()
    assert queue.guild_load(100) == 3 and queue.guild_load(200) == 0 and queue.guild_load(None) == 1
    queue.cancel(2)
    submit(queue, rec, 5, 13, guild_id=100)  # room again once one of its jobs left
    dms = JobQueue(max_waiting=5, per_user_cap=5, per_guild_max=1)
    dms.reserve(1, guild_id=None)
    with pytest.raises(GuildShareFull, match="direct messages"):
        dms.reserve(2, guild_id=None)
    assert JobQueue(max_waiting=5, per_user_cap=5, per_guild_max=99).per_guild_max == 5


async def test_the_per_user_cap_counts_every_server() -> None:
    queue = JobQueue(max_waiting=50, per_user_cap=3, per_guild_max=50)
    rec = Recorder()
    submit(queue, rec, 1, 7, guild_id=100)
    submit(queue, rec, 2, 7, guild_id=200)
    submit(queue, rec, 3, 7, guild_id=None)
    assert queue.user_load(7) == 3
    with pytest.raises(UserCapReached, match="all servers"):
        queue.reserve(7, guild_id=300)
    queue.reserve(8, guild_id=100).release()  # other users are unaffected
