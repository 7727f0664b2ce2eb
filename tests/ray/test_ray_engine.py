"""The Ray Serve worker app through ``RayEngine``: two replicas on a local cluster, the tiny models."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from typing import Any

import pytest
from PIL import Image

from engine.api import GenerateRequest, Progress
from engine.errors import Cancelled, UnknownModel, WorkerLost
from engine.ray.messages import Started
from tests.ray.conftest import needs_ray, running_replicas

pytestmark = [needs_ray, pytest.mark.timeout(240)]


def request(seed: int, *, steps: int | None = None, model: str | None = None) -> GenerateRequest:
    return GenerateRequest(prompt="a red circle", seed=seed, steps=steps, model=model)


def stamp(times: list[float]) -> None:
    times.append(time.time())


async def until(condition: Any, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_the_app_describes_its_models_and_capacity(ray_engine: Any) -> None:
    await until(lambda: ray_engine.ready)
    assert ray_engine.default_model == "tiny"
    assert {info.name for info in ray_engine.models()} == {"tiny", "other"}
    assert ray_engine.capacity == 2
    assert ray_engine.workers() == (0, 2)


async def test_progress_streams_then_the_result(ray_engine: Any) -> None:
    seen: list[Progress] = []
    result = await ray_engine.run(request(1, steps=6), job_id="stream", on_progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6] and {p.total for p in seen} == {6}
    # a preview every 2nd step, none with the last (the result follows at once)
    assert [p.preview is not None for p in seen] == [False, True, False, True, False, False]
    assert Image.open(io.BytesIO(seen[1].preview or b"")).format == "JPEG"
    assert result.kind == "imagine" and len(result.images) == 4 and result.model == "tiny"
    assert result.seeds == (1, 2, 3, 4) and Image.open(io.BytesIO(result.grid or b"")).size == (128, 128)


async def test_two_jobs_run_in_parallel_on_the_two_replicas(ray_engine: Any) -> None:
    both_running: list[dict[str, str]] = []

    def watch(job_id: str, started: Started) -> None:
        if len(ray_engine.replicas) == 2:
            both_running.append(dict(ray_engine.replicas))

    ray_engine.on_started = watch
    first, second = await asyncio.gather(
        ray_engine.run(request(10), job_id="p1"), ray_engine.run(request(20), job_id="p2")
    )
    assert both_running, "the second job started only after the first had finished"
    assert len(set(both_running[0].values())) == 2  # on two different replicas
    assert first.seeds[0] == 10 and second.seeds[0] == 20


async def test_a_cancelled_job_frees_its_replica_within_a_step_and_never_overlaps_the_next(
    ray_engine: Any,
) -> None:
    starts: dict[str, Started] = {}
    ray_engine.on_started = lambda job_id, started: starts.__setitem__(job_id, started)
    steps: list[float] = []
    busy = asyncio.create_task(ray_engine.run(request(1, steps=150), job_id="busy"))  # holds one replica
    await until(lambda: "busy" in starts)
    doomed = asyncio.create_task(
        ray_engine.run(
            request(2, steps=150), job_id="doomed", on_progress=lambda p: steps.append(time.time())
        )
    )
    await until(lambda: len(steps) >= 4)
    cancelled_at = time.time()
    assert ray_engine.cancel("doomed")
    follower = asyncio.create_task(ray_engine.run(request(3, steps=2), job_id="follower"))
    with pytest.raises(Cancelled):
        await doomed
    await follower
    ray_engine.cancel("busy")
    with pytest.raises(Cancelled):
        await busy
    after = starts["follower"]
    assert after.replica == starts["doomed"].replica != starts["busy"].replica
    assert after.previous is not None and after.previous[0] == "doomed"
    released = after.previous[1]
    assert after.at >= released  # the follower got the replica only once the cancelled job's thread let go
    step_s = max(b - a for a, b in itertools.pairwise(steps))
    assert released - cancelled_at < step_s + 0.5, (released - cancelled_at, step_s)


async def test_a_replica_killed_mid_job_raises_worker_lost_and_is_replaced(ray_engine: Any) -> None:
    import ray

    progress: list[int] = []
    job = asyncio.create_task(
        ray_engine.run(request(5, steps=150), job_id="victim", on_progress=lambda p: progress.append(p.step))
    )
    await until(lambda: len(progress) >= 2)
    victim = ray_engine.replicas["victim"]
    ray.kill(ray.get_actor(victim, namespace="serve"))
    killed = time.monotonic()
    with pytest.raises(WorkerLost):
        await job
    assert time.monotonic() - killed < 5
    starts: dict[str, Started] = {}
    ray_engine.on_started = lambda job_id, started: starts.__setitem__(job_id, started)
    again = await ray_engine.run(request(5, steps=2), job_id="again")  # another replica takes it at once
    assert again.seeds[0] == 5 and starts["again"].replica != victim
    for attempt in range(60):  # replaced: two jobs at once run on two live replicas, neither the dead one
        await asyncio.gather(*(ray_engine.run(request(i, steps=2), job_id=f"r{attempt}-{i}") for i in (1, 2)))
        pair = {starts[f"r{attempt}-1"].replica, starts[f"r{attempt}-2"].replica}
        if len(pair) == 2 and victim not in pair:
            break
    else:
        raise AssertionError("the killed replica was not replaced")
    assert running_replicas() == 2


async def test_models_are_routed_to_the_replicas_that_hold_them(ray_engine: Any) -> None:
    starts: dict[str, Started] = {}
    ray_engine.on_started = lambda job_id, started: starts.__setitem__(job_id, started)
    first = await ray_engine.run(request(1, steps=2, model="other"), job_id="m0")
    assert first.model == "other"
    await asyncio.sleep(1.5)  # the replica reports the models it holds to Serve's router
    for index in range(1, 5):
        await ray_engine.run(request(index, steps=2, model="other"), job_id=f"m{index}")
    holders = {starts[f"m{index}"].replica for index in range(5)}
    assert holders == {starts["m0"].replica}
    with pytest.raises(UnknownModel, match="no-such-model"):
        await ray_engine.run(request(1, steps=2, model="no-such-model"), job_id="unknown")


async def test_jobs_wait_with_a_clear_message_while_the_app_is_not_deployed(
    ray_app: Any, ray_models: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from ray import serve

    from engine.ray.client import RayEngine
    from engine.ray.cluster import deploy
    from engine.ray.options import APP_NAME

    serve.delete(APP_NAME)
    engine = RayEngine(ray_app)
    try:
        with caplog.at_level(logging.WARNING, logger="engine.ray"):
            job = asyncio.create_task(engine.run(request(3, steps=2), job_id="early"))
            await until(lambda: "is not deployed on the cluster yet" in caplog.text)
        assert "python -m engine serve" in caplog.text and not job.done()
        deploy(ray_app, model="tiny", device="cpu", threads=1, preview_every=2, models_dir=ray_models)
        result = await asyncio.wait_for(job, 120)
        assert result.seeds[0] == 3 and engine.ready
    finally:
        await engine.close()


async def test_describe_runs_on_a_replica_and_its_refusal_comes_back_clearly(ray_engine: Any) -> None:
    from engine.api import DescribeRequest
    from engine.errors import InvalidRequest

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, "PNG")
    with pytest.raises(InvalidRequest, match="ENGINE_DESCRIBER"):  # the tiny models have no CLIP of their own
        await ray_engine.describe(DescribeRequest(image=buffer.getvalue()), job_id="describe-1")
