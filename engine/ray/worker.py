"""The Ray Serve deployment: each replica runs jobs one at a time on :class:`engine.local.LocalEngine`\\ s.

- ``max_ongoing_requests=1`` (see :meth:`engine.ray.options.RaySettings.deployment_options`): Serve sends a
  replica one job at a time.
- A cancelled response is *not* the end of the job for the replica: Serve counts the replica free as soon as
  the response is cancelled, while the worker thread is still finishing its step. The replica therefore runs
  jobs under its own lock, held until the engine's worker thread has really stopped; the next job waits for
  it instead of overlapping the cancelled one.
- Models go through ``serve.multiplexed``: one ``LocalEngine`` (one worker thread, one loaded model) per model
  id, at most ``RAY_MODELS_PER_REPLICA`` per replica (least recently used unloaded), and Serve routes a
  request to a replica that already holds its model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray
from ray import serve

from engine.api import DescribeRequest, Description, Progress, Request
from engine.errors import EngineError, EngineFailure
from engine.local import LocalEngine
from engine.local.engine import DEFAULT_MODELS_DIR
from engine.local.registry import ModelRegistry
from engine.ray.messages import Failed, Finished, Started, WorkerStatus

log = logging.getLogger(__name__)

Streamed = Started | Progress | Finished | Failed


class _Loaded:
    """One model on one replica: its own ``LocalEngine`` (worker thread + pipelines)."""

    def __init__(self, engine: LocalEngine) -> None:
        self.engine = engine
        self._closed = False

    def __del__(self) -> None:
        # Serve calls this (in an executor thread) when it unloads the model; GC may call it again later.
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):  # GC on a thread with a running loop: nothing to close
            asyncio.run(self.engine.close())


class ImagineWorker:
    """One replica. ``run`` streams ``Started``, ``Progress``\\ …, then ``Finished`` or ``Failed``."""

    def __init__(
        self,
        *,
        model: str | None = None,
        device: str | None = None,
        threads: int | None = None,
        preview_every: int = 0,
        upscaler: str | None = None,
        models_dir: str | None = None,
        models_per_replica: int = 2,
        capacity: int = 1,
        describer: str | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "device": device,
            "threads": threads,
            "preview_every": preview_every,
            "upscaler": upscaler,
            "models_dir": Path(models_dir) if models_dir else None,
            "describer": describer,
        }
        self._registry = ModelRegistry(model, Path(models_dir) if models_dir else DEFAULT_MODELS_DIR)
        self._registry.resolve(None)  # a missing default model fails the replica with a clear message
        # The default model starts loading now, on its engine's thread; the first job for it picks it up.
        self._preloaded: LocalEngine | None = LocalEngine(model=model, preload=True, **self._options)
        self._capacity = capacity
        self._name = ray.get_runtime_context().get_actor_name() or f"pid-{os.getpid()}"
        self._lock = asyncio.Lock()
        self._previous: tuple[str, float] | None = None

        async def load_model(model_id: str) -> _Loaded:  # a plain function: Serve keeps its cache on it
            return await self._load(model_id)

        self._load_model = serve.multiplexed(max_num_models_per_replica=models_per_replica)(load_model)

    async def _load(self, model_id: str) -> _Loaded:
        spec = self._registry.resolve(model_id or None)  # UnknownModel for a name the app does not serve
        if spec.name == self._registry.configured and self._preloaded is not None:
            engine, self._preloaded = self._preloaded, None
            return _Loaded(engine)
        engine = LocalEngine(model=spec.name, preload=True, **self._options)
        log.info("replica %s loading model %s", self._name, spec.name)
        return _Loaded(engine)

    def describe(self) -> WorkerStatus:
        infos = []
        for name in self._registry.names():
            with contextlib.suppress(EngineError):
                infos.append(self._registry.info(self._registry.resolve(name)))
        return WorkerStatus(
            default_model=self._registry.configured, models=tuple(infos), capacity=self._capacity
        )

    async def run(self, request: Request, job_id: str) -> AsyncIterator[Streamed]:
        """Stream one job. Cancelling the response stops the job within one step; the replica takes its
        next job only after the worker thread has stopped."""
        model_id = serve.get_multiplexed_model_id() or self._registry.configured
        await self._lock.acquire()
        started = time.time()
        task: asyncio.Future[Any] | None = None
        engine: LocalEngine | None = None
        try:
            try:
                engine = (await self._load_model(model_id)).engine
            except EngineError as error:
                yield Failed.of(error)
                return
            yield Started(replica=self._name, at=started, previous=self._previous)
            progress: asyncio.Queue[Progress] = asyncio.Queue()
            task = asyncio.ensure_future(
                engine.run(replace(request, model=None), job_id=job_id, on_progress=progress.put_nowait)
            )
            while not task.done():
                getter = asyncio.ensure_future(progress.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            while not progress.empty():
                yield progress.get_nowait()
            try:
                result = task.result()
            except EngineError as error:
                yield Failed.of(error)
            except Exception:
                log.exception("job %s failed on replica %s", job_id, self._name)
                yield Failed.of(EngineFailure())
            else:
                yield Finished(result=result, replica=self._name)
        finally:
            if task is not None and not task.done():
                assert engine is not None
                engine.cancel(job_id)
                while not task.done():  # hold the replica until the worker thread has stopped
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait({task})
            if task is not None and task.done() and not task.cancelled():
                task.exception()  # retrieved: a cancelled job's Cancelled is expected
            self._previous = (job_id, time.time())
            self._lock.release()

    async def describe_image(self, request: DescribeRequest, job_id: str) -> Description | Failed:
        """``/describe`` on this replica's engine for the multiplexed model, one job at a time."""
        model_id = serve.get_multiplexed_model_id() or self._registry.configured
        async with self._lock:
            try:
                engine = (await self._load_model(model_id)).engine
                return await engine.describe(replace(request, model=None), job_id=job_id)
            except EngineError as error:
                return Failed.of(error)
            except Exception:
                log.exception("describe %s failed on replica %s", job_id, self._name)
                return Failed.of(EngineFailure())

    def check_health(self) -> None:
        """Serve's periodic health check (``RAY_HEALTH_CHECK_PERIOD_S``): the replica's loop answers."""


def build_app(
    settings: Any,
    *,
    model: str | None,
    device: str | None,
    threads: int | None,
    preview_every: int,
    upscaler: str | None = None,
    models_dir: Path | None = None,
    describer: str | None = None,
) -> Any:
    """The Serve application for ``settings`` (:class:`engine.ray.options.RaySettings`)."""
    from engine.ray.options import DEPLOYMENT_NAME

    deployment: Any = serve.deployment(ImagineWorker, name=DEPLOYMENT_NAME, **settings.deployment_options())
    return deployment.bind(
        model=model,
        device=device,
        threads=threads,
        preview_every=preview_every,
        upscaler=upscaler,
        models_dir=str(models_dir) if models_dir else None,
        models_per_replica=settings.ray_models_per_replica,
        capacity=settings.capacity,
        describer=describer,
    )
