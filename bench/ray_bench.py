"""Ray Serve worker pool benchmark, measured in one run on a local Ray cluster this script starts and stops.

1. Ray ÷ local: one default-model grid through ``RayEngine`` (one replica, one torch thread) vs the same grid
   on an in-process ``LocalEngine`` (one torch thread), rounds interleaved — goal ≤ 1.03.
2. Throughput: 16 jobs from 8 users through the bot's fair queue (``JobQueue`` with the engine's capacity),
   two replicas ÷ one replica, one torch thread per replica — goal ≥ 1.8 (needs two free cores).
3. A replica killed mid-job: seconds from the kill to the job's result (the bot's policy: run it once more on
   another replica), and until Serve has replaced the dead replica.
4. Cancel: seconds from ``cancel`` to the replica's next job starting on it (the worker thread has stopped).

``python bench/ray_bench.py [--rounds N] [--cpus N]``; prints a line and exits 0 when ray is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import logging
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "a red circle above a blue square"
MODELS = ROOT / "engine" / "models"


def _request(seed: int, **changes: Any) -> Any:
    from engine.api import GenerateRequest

    return GenerateRequest(prompt=PROMPT, seed=seed, **changes)


def _deploy(replicas: int) -> Any:
    from engine.ray.cluster import deploy
    from engine.ray.options import RaySettings

    settings = RaySettings(
        _env_file=None,  # type: ignore[call-arg]
        ray_replicas=replicas,
        ray_cpus_per_replica=0.5,
    )
    deploy(settings, model="default", device="cpu", threads=1, preview_every=0, models_dir=MODELS)
    return settings


async def _ray_engine(settings: Any) -> Any:
    from engine.ray.client import RayEngine

    engine = RayEngine(settings)
    await _until(lambda: engine.ready)
    return engine


async def _until(condition: Any, timeout: float = 120.0, poll: float = 0.01) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the Ray cluster did not get there in time")
        await asyncio.sleep(poll)


def _guild(queue: Any) -> dict[str, Any]:
    """The server a job belongs to, when the queue is fair between servers (one server here)."""
    import inspect

    return {"guild_id": 1} if "guild_id" in inspect.signature(queue.reserve).parameters else {}


async def overhead(rounds: int) -> tuple[float, float, float, float]:
    """Median seconds per grid on Ray and locally, their ratio, and the median seconds a Ray job spends
    outside the replica's engine (routing, streaming, pickling: less sensitive to a busy machine)."""
    from engine.local import LocalEngine

    settings = _deploy(1)
    ray_engine = await _ray_engine(settings)
    local = LocalEngine(model="default", device="cpu", threads=1, preview_every=0, preload=True)
    await local.run(_request(0), job_id="warm")
    await ray_engine.run(_request(0), job_id="warm")
    ray_s: list[float] = []
    local_s: list[float] = []
    outside: list[float] = []
    for index in range(rounds):
        for engine, samples in ((local, local_s), (ray_engine, ray_s)):
            started = time.perf_counter()
            result = await engine.run(_request(index + 1), job_id=f"grid-{index}")
            samples.append(time.perf_counter() - started)
            if engine is ray_engine:
                outside.append(samples[-1] - result.timings["total"])
    await local.close()
    await ray_engine.close()
    ray_median, local_median = statistics.median(ray_s), statistics.median(local_s)
    return ray_median, local_median, ray_median / local_median, statistics.median(outside)


async def throughput(replicas: int, *, users: int = 8, per_user: int = 2) -> float:
    """Seconds for ``users × per_user`` jobs through the bot's queue on ``replicas`` replicas."""
    from bot.queue import JobQueue, QueuedJob

    settings = _deploy(replicas)
    engine = await _ray_engine(settings)
    await _until(lambda: engine.workers()[1] == replicas)  # the replica count Serve reports has settled
    await asyncio.gather(*(engine.run(_request(0), job_id=f"warm-{i}") for i in range(replicas)))
    queue = JobQueue(max_waiting=100, per_user_cap=per_user, capacity=lambda: engine.capacity)
    queue.start()
    in_flight = [0, 0]  # now, most at once
    started = time.perf_counter()
    for user in range(users):
        for index in range(per_user):
            job_id = user * per_user + index

            async def run(job_id: int = job_id) -> None:
                in_flight[0] += 1
                in_flight[1] = max(in_flight)
                try:
                    await engine.run(_request(job_id), job_id=str(job_id))
                finally:
                    in_flight[0] -= 1

            queue.reserve(user, **_guild(queue)).submit(QueuedJob(job_id=job_id, user_id=user, run=run))
    await asyncio.sleep(0)
    await queue.join()
    elapsed = time.perf_counter() - started
    await queue.stop_all()
    await engine.close()
    assert in_flight[1] == replicas, f"{in_flight[1]} jobs ran at once on {replicas} replica(s)"
    return elapsed


def _stamp(times: list[float]) -> None:
    times.append(time.time())


async def kill_and_cancel() -> dict[str, float]:
    """Seconds, on two replicas: a job's normal length; kill → error, → result (run once more, as the bot
    does), → Serve reports two running replicas again; cancel → the replica's next job starts; one step."""
    import ray
    from ray import serve

    from engine.errors import Cancelled, WorkerLost
    from engine.ray.messages import Started
    from engine.ray.options import APP_NAME, DEPLOYMENT_NAME

    def running() -> int:
        app = serve.status().applications[APP_NAME]
        states: dict[Any, int] = dict(app.deployments[DEPLOYMENT_NAME].replica_states)
        return int(states.get("RUNNING", 0))

    settings = _deploy(2)
    engine = await _ray_engine(settings)
    starts: dict[str, Started] = {}
    engine.on_started = lambda job_id, started: starts.__setitem__(job_id, started)
    figures: dict[str, float] = {}
    long = _request(1, steps=48)  # three times the default model's steps: long enough to kill mid-way
    began = time.perf_counter()
    await engine.run(long, job_id="normal")
    figures["job"] = time.perf_counter() - began
    # kill mid-job: the bot's policy is to run it once more (on another replica)
    progress: list[float] = []
    job = asyncio.create_task(engine.run(long, job_id="victim", on_progress=lambda _: _stamp(progress)))
    await _until(lambda: len(progress) >= 16)  # a third of the way
    victim = engine.replicas["victim"]
    ray.kill(ray.get_actor(victim, namespace="serve"))
    killed = time.perf_counter()

    async def watch_replicas() -> tuple[float, float]:
        """Seconds after the kill when Serve first reported one replica fewer, and two again."""
        gone: float | None = None
        while True:
            count = await asyncio.to_thread(running)
            now = time.perf_counter() - killed
            if gone is None and count < 2:
                gone = now
            elif gone is not None and count == 2:
                return gone, now
            if now > 180:
                raise TimeoutError("the killed replica was not replaced in 3 minutes")
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_replicas())
    try:
        await job
        raise AssertionError("the job survived its replica")
    except WorkerLost:
        figures["kill_error"] = time.perf_counter() - killed
        await engine.run(long, job_id="victim-again")
    figures["kill_result"] = time.perf_counter() - killed
    figures["kill_noticed"], figures["kill_replaced"] = await watcher
    # cancel: one replica busy, cancel the job on the other, the next job must wait for its thread
    steps: list[float] = []
    busy = asyncio.create_task(engine.run(_request(3, steps=150), job_id="busy"))
    await _until(lambda: "busy" in starts)
    doomed = asyncio.create_task(
        engine.run(_request(4, steps=150), job_id="doomed", on_progress=lambda _: _stamp(steps))
    )
    await _until(lambda: len(steps) >= 5)
    cancelled_at = time.time()
    engine.cancel("doomed")
    follower = await engine.run(_request(5, steps=1), job_id="follower")
    assert follower is not None and starts["follower"].replica == starts["doomed"].replica
    engine.cancel("busy")
    for task in (doomed, busy):
        with contextlib.suppress(Cancelled):
            await task
    figures["cancel_free"] = starts["follower"].at - cancelled_at
    figures["step"] = statistics.median(b - a for a, b in itertools.pairwise(steps))
    await engine.close()
    return figures


async def main_async(rounds: int, parts: str) -> None:
    if "1" in parts:
        ray_s, local_s, ratio, outside_s = await overhead(rounds)
        print(
            f"1. grid, default model: Ray {ray_s:.3f} s, local {local_s:.3f} s → "
            f"Ray ÷ local {ratio:.3f} (goal ≤ 1.03); a Ray job spends {outside_s * 1000:.0f} ms "
            "outside its replica's engine"
        )
    if "2" in parts:
        one = await throughput(1)
        two = await throughput(2)
        print(
            f"2. 16 jobs from 8 users: 1 replica {one:.1f} s, 2 replicas {two:.1f} s → "
            f"throughput ×{one / two:.2f} (goal ≥ 1.8; {os.cpu_count()} cores on this machine, shared)"
        )
    if "3" not in parts and "4" not in parts:
        return
    f = await kill_and_cancel()
    print(
        f"3. replica killed mid-job (a job takes {f['job']:.1f} s): error {f['kill_error'] * 1000:.0f} ms "
        f"after the kill, result (run again on the other replica) {f['kill_result']:.1f} s, "
        f"Serve reported it gone by {f['kill_noticed']:.1f} s, "
        f"a new replica running {f['kill_replaced']:.1f} s"
    )
    print(
        f"4. cancel → replica free for the next job {f['cancel_free'] * 1000:.0f} ms "
        f"(one step ≈ {f['step'] * 1000:.0f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="grids per engine for the overhead ratio")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--parts", default="1234", help="which measurements to run (e.g. 34)")
    args = parser.parse_args()
    if importlib.util.find_spec("ray") is None:
        print("ray_bench: ray is not installed (pip install -e '.[ray]'); skipped")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(24))
    import ray  # after the token: Ray reads its authentication mode at import
    from ray import serve

    from engine.ray.cluster import NAMESPACE

    temp_dir = tempfile.mkdtemp(prefix="ray-b-", dir="/tmp")
    ray.init(
        num_cpus=args.cpus,
        include_dashboard=False,
        namespace=NAMESPACE,
        _temp_dir=temp_dir,
        logging_level=logging.WARNING,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        asyncio.run(main_async(args.rounds, args.parts))
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
