"""The worker: progress on the caller's loop, cancellation, serialization, error mapping, shutdown."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from engine.api import GenerateRequest, Progress
from engine.errors import Cancelled, EngineFailure
from engine.local import LocalEngine


async def test_progress_every_step_with_previews_on_the_callers_loop(engine: LocalEngine) -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[Progress, int]] = []
    result = await engine.run(
        GenerateRequest(prompt="a red circle", seed=1, steps=6),
        job_id="progress",
        on_progress=lambda p: seen.append((p, threading.get_ident())),
    )
    assert [p.step for p, _ in seen] == [1, 2, 3, 4, 5, 6]
    assert {p.total for p, _ in seen} == {6} and result.steps == 6
    assert {thread for _, thread in seen} == {loop_thread}
    with_preview = [p.step for p, _ in seen if p.preview is not None]
    assert with_preview == [2, 4]  # every 2 steps (preview_every=2), none on the last step
    first = seen[1][0].preview
    assert first is not None and first[:2] == b"\xff\xd8"  # JPEG


async def test_cancel_mid_run_stops_the_job_and_the_worker_takes_the_next(engine: LocalEngine) -> None:
    steps: list[int] = []

    def on_progress(progress: Progress) -> None:
        steps.append(progress.step)
        if progress.step == 2:
            assert engine.cancel("long")

    long_job = asyncio.ensure_future(
        engine.run(
            GenerateRequest(prompt="a slow one", seed=1, steps=150), job_id="long", on_progress=on_progress
        )
    )
    next_job = asyncio.ensure_future(
        engine.run(GenerateRequest(prompt="next", seed=2, steps=2), job_id="next")
    )
    with pytest.raises(Cancelled):
        await long_job
    assert 2 <= max(steps) < 150
    result = await next_job
    assert len(result.images) == 4
    assert not engine.cancel("long"), "a finished job is no longer known"


async def test_cancelling_a_queued_job_removes_it(engine: LocalEngine) -> None:
    started = asyncio.Event()
    running = asyncio.ensure_future(
        engine.run(
            GenerateRequest(prompt="first", seed=1, steps=12),
            job_id="first",
            on_progress=lambda p: started.set(),
        )
    )
    queued_steps: list[Progress] = []
    queued = asyncio.ensure_future(
        engine.run(GenerateRequest(prompt="second", seed=1), job_id="queued", on_progress=queued_steps.append)
    )
    await started.wait()
    assert engine.queued == 1
    assert engine.cancel("queued")
    with pytest.raises(Cancelled):
        await queued
    assert engine.queued == 0
    assert not queued_steps
    assert len((await running).images) == 4
    assert not engine.cancel("never-submitted")


async def test_a_cancelled_caller_cancels_its_job(engine: LocalEngine) -> None:
    started = asyncio.Event()
    task = asyncio.ensure_future(
        engine.run(
            GenerateRequest(prompt="abandoned", seed=1, steps=150),
            job_id="abandoned",
            on_progress=lambda p: started.set(),
        )
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the worker is free again well before 150 steps would have finished
    result = await asyncio.wait_for(
        engine.run(GenerateRequest(prompt="after", seed=1, steps=1), job_id="after"), timeout=60
    )
    assert len(result.images) == 4


async def test_concurrent_submissions_are_serialized_not_interleaved(engine: LocalEngine) -> None:
    events: list[tuple[str, int]] = []

    def recorder(name: str):  # type: ignore[no-untyped-def]
        return lambda progress: events.append((name, progress.step))

    first, second = await asyncio.gather(
        engine.run(GenerateRequest(prompt="one", seed=1, steps=5), job_id="one", on_progress=recorder("one")),
        engine.run(GenerateRequest(prompt="two", seed=1, steps=5), job_id="two", on_progress=recorder("two")),
    )
    names = [name for name, _ in events]
    assert names == ["one"] * 5 + ["two"] * 5
    assert second.timings["queued"] >= first.timings["render"] * 0.5


async def test_unexpected_failure_is_a_generic_engine_failure(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("engine.local.render.generate", explode)
    with pytest.raises(EngineFailure) as failure:
        await engine.run(GenerateRequest(prompt="boom", seed=1), job_id="boom")
    assert "secret internal detail" not in str(failure.value)
    assert "secret internal detail" in caplog.text  # logged with its traceback
    monkeypatch.undo()
    assert len((await engine.run(GenerateRequest(prompt="fine", seed=1), job_id="fine")).images) == 4


async def test_close_cancels_queued_jobs_and_refuses_new_ones(tiny_model: Path) -> None:
    local = LocalEngine(model=str(tiny_model), device="cpu", threads=1)
    started = asyncio.Event()
    running = asyncio.ensure_future(
        local.run(
            GenerateRequest(prompt="a", seed=1, steps=150), job_id="a", on_progress=lambda p: started.set()
        )
    )
    queued = asyncio.ensure_future(local.run(GenerateRequest(prompt="b", seed=1), job_id="b"))
    await started.wait()
    await local.close()
    for job in (running, queued):
        with pytest.raises(Cancelled):
            await job
    with pytest.raises(EngineFailure):
        await local.run(GenerateRequest(prompt="c", seed=1), job_id="c")


async def test_unavailable_device_fails_jobs_with_a_clear_message(tiny_model: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    local = LocalEngine(model=str(tiny_model), device="cuda")
    try:
        with pytest.raises(EngineFailure, match="CUDA"):
            await local.run(GenerateRequest(prompt="a", seed=1), job_id="a")
    finally:
        await local.close()


async def test_pipeline_calls_and_encoding_happen_on_the_worker_thread(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.local import render as render_module

    threads: dict[str, set[str]] = {"call": set(), "encode": set()}
    real_call, real_encode = render_module._Call.__call__, render_module.encode_png

    def call(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads["call"].add(threading.current_thread().name)
        return real_call(*args, **kwargs)

    def encode(image):  # type: ignore[no-untyped-def]
        threads["encode"].add(threading.current_thread().name)
        return real_encode(image)

    monkeypatch.setattr(render_module._Call, "__call__", call)
    monkeypatch.setattr(render_module, "encode_png", encode)
    await engine.run(GenerateRequest(prompt="where", seed=1, steps=1), job_id="threads")
    assert threads == {"call": {"imaginebot-engine"}, "encode": {"imaginebot-engine"}}
    assert threading.current_thread().name != "imaginebot-engine"
