"""``LocalEngine``: one worker thread owns the pipelines; asyncio callers submit jobs and await futures.

Torch is imported on the worker thread, so constructing the engine never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from engine.api import (
    DescribeRequest,
    Description,
    GenerationResult,
    ModelInfo,
    Progress,
    ProgressCallback,
    Request,
    UpscaleRequest,
)
from engine.describe import DescriberSource, describer_source
from engine.errors import Cancelled, EngineError, EngineFailure, InvalidRequest, OutOfMemory, UnknownModel
from engine.local.acceleration import AccelerationOptions
from engine.local.registry import ModelRegistry, ModelSpec

log = logging.getLogger(__name__)

MAX_DESCRIBE_COUNT = 8
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


@dataclasses.dataclass(eq=False)
class _Job:
    job_id: str
    request: Request | DescribeRequest
    spec: ModelSpec
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    on_progress: ProgressCallback | None
    submitted: float
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event)


def out_of_memory(device_type: str) -> OutOfMemory:
    if device_type == "cpu":
        return OutOfMemory("The image engine ran out of memory; try a smaller size.")
    return OutOfMemory()


class LocalEngine:
    """Runs jobs one at a time on its own thread, on CUDA, MPS or CPU (see :func:`select_device`)."""

    def __init__(
        self,
        *,
        model: str | None = None,
        device: str | None = None,
        threads: int | None = None,
        preview_every: int = 0,
        models_dir: Path | None = None,
        preload: bool = False,
        upscaler: str | None = None,
        describer: str | None = None,
        acceleration: AccelerationOptions | None = None,
        models_loaded: int = 2,
        preview_decoder: str | None = None,
    ) -> None:
        self._acceleration = acceleration or AccelerationOptions()
        self._registry = ModelRegistry(model, models_dir or DEFAULT_MODELS_DIR)
        self._upscaler = self._registry.upscaler(upscaler)
        self._describer = describer
        self._describers: dict[DescriberSource, Any] = {}  # worker thread only
        self._device_name = device
        self._threads = threads
        self.preview_every = max(0, int(preview_every))
        self._preload = preload
        self._models_loaded = max(1, int(models_loaded))
        self._preview_decoder_folder = (preview_decoder or "").strip() or None
        self._preview_decoder: Any = None
        self._loaded_infos: dict[str, ModelInfo] = {}  # what loading showed about models (e.g. hub ids)
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._jobs: dict[str, _Job] = {}
        self._running: _Job | None = None
        self._closing = False
        self._startup_error: str | None = None
        self.device: str | None = None  # set by the worker once torch is imported
        self._thread = threading.Thread(target=self._work, name="imaginebot-engine", daemon=True)
        self._thread.start()

    # -- the Engine protocol (event-loop side) ------------------------------------------------------------

    @property
    def default_model(self) -> str:
        return self._registry.configured

    def models(self) -> list[ModelInfo]:
        infos = []
        for name in self._registry.names():
            try:
                spec = self._registry.resolve(name)
            except UnknownModel:
                continue
            infos.append(self._loaded_infos.get(spec.source) or self._registry.info(spec))
        return infos

    def check(self, request: Request) -> ModelInfo:
        request.validate()
        spec = self._registry.resolve(request.model)
        info = self._loaded_infos.get(spec.source) or self._registry.info(spec)
        if isinstance(request, UpscaleRequest) and request.mode == "standard" and self._upscaler is not None:
            info = dataclasses.replace(
                info, capabilities=dataclasses.replace(info.capabilities, img2img=True)
            )
        info.check(request)
        return info

    async def run(
        self, request: Request, *, job_id: str, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        self.check(request)
        result: GenerationResult = await self._submit(request, job_id, on_progress)
        return result

    async def describe(self, request: DescribeRequest, *, job_id: str) -> Description:
        if not 1 <= request.count <= MAX_DESCRIBE_COUNT:
            raise InvalidRequest(f"Describe returns 1 to {MAX_DESCRIBE_COUNT} prompts; got {request.count}.")
        spec = self._registry.resolve(request.model)
        describer_source(self._describer, Path(spec.source) if spec.local else None)  # refuse early
        result: Description = await self._submit(request, job_id, None)
        return result

    async def _submit(
        self, request: Request | DescribeRequest, job_id: str, on_progress: ProgressCallback | None
    ) -> Any:
        spec = self._registry.resolve(request.model)
        loop = asyncio.get_running_loop()
        job = _Job(job_id, request, spec, loop, loop.create_future(), on_progress, time.perf_counter())
        with self._cond:
            if self._closing:
                raise EngineFailure("The image engine is shutting down.")
            if job_id in self._jobs:
                raise InvalidRequest(f"Job `{job_id}` is already queued.")
            self._jobs[job_id] = job
            self._queue.append(job)
            self._cond.notify()
        try:
            return await job.future
        except asyncio.CancelledError:
            self.cancel(job_id)
            raise

    def cancel(self, job_id: str) -> bool:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            job.cancel_event.set()
            if job is not self._running:
                self._queue.remove(job)
                del self._jobs[job_id]
                self._settle(job, error=Cancelled())
        return True

    async def close(self) -> None:
        with self._cond:
            self._closing = True
            while self._queue:
                job = self._queue.popleft()
                self._jobs.pop(job.job_id, None)
                job.cancel_event.set()
                self._settle(job, error=Cancelled())
            if self._running is not None:
                self._running.cancel_event.set()
            self._cond.notify_all()
        await asyncio.to_thread(self._thread.join)

    @property
    def queued(self) -> int:
        """Jobs waiting (not counting the running one)."""
        with self._cond:
            return len(self._queue)

    # -- the worker thread --------------------------------------------------------------------------------

    def _work(self) -> None:
        cache: Any = None
        try:
            import torch

            from engine.local.models import ModelCache, select_device

            if self._threads:
                torch.set_num_threads(self._threads)
            device = select_device(self._device_name)
            self._acceleration.check_device(device)
            self.device = str(device)
            cache = ModelCache(device, capacity=self._models_loaded, acceleration=self._acceleration)
            if self._preview_decoder_folder:
                from engine.local.models import dtype_for
                from engine.local.preview import load_preview_decoder

                try:
                    self._preview_decoder = load_preview_decoder(
                        self._preview_decoder_folder, device, dtype_for(device)
                    )
                except Exception as error:
                    log.warning("ENGINE_PREVIEW_DECODER not loaded, previews use the latent map: %s", error)
            log.info("image engine on %s (%d torch threads)", device, torch.get_num_threads())
            if self._preload:
                try:
                    model, _ = cache.get(self._registry.resolve(None))
                    self._loaded_infos[model.spec.source] = model.info
                except EngineError as error:
                    log.info("default model not preloaded: %s", error)
                if self._upscaler is not None:
                    try:
                        cache.upscaler(self._upscaler)
                    except EngineError as error:
                        log.warning("upscaler not loaded, upscales will fail until it is fixed: %s", error)
        except Exception as error:
            log.exception("image engine failed to start")
            self._startup_error = str(error) if isinstance(error, ValueError) else "see the logs"
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    break
                job = self._queue.popleft()
                self._running = job
            try:
                self._execute(job, cache)
            finally:
                with self._cond:
                    self._running = None
                    self._jobs.pop(job.job_id, None)
        if cache is not None:
            cache.clear()
        self._describers.clear()

    def _execute(self, job: _Job, cache: Any) -> None:
        started = time.perf_counter()
        try:
            if cache is None:
                raise EngineFailure(f"The image engine could not start ({self._startup_error}).")
            if job.cancel_event.is_set():
                raise Cancelled()
            if isinstance(job.request, DescribeRequest):
                self._settle(job, result=self._describe(job.request, job.spec, cache.device))
                log.info("describe %s done in %.2fs", job.job_id, time.perf_counter() - started)
                return
            from engine.local.render import JobControl, render

            model, _ = cache.get(job.spec)
            self._loaded_infos[job.spec.source] = model.info
            loaded = time.perf_counter()
            control = JobControl(
                cancelled=job.cancel_event.is_set,
                report=lambda step, total, preview: self._report(job, step, total, preview),
                preview_every=self.preview_every if job.on_progress is not None else 0,
                decoder=self._preview_decoder,
            )
            upscaler = None
            if self._upscaler is not None and isinstance(job.request, UpscaleRequest):
                upscaler = cache.upscaler(self._upscaler)
            result = render(model, job.request, control, upscaler)
            finished = time.perf_counter()
            timings = {
                "queued": started - job.submitted,
                "load": loaded - started,
                **result.timings,
                "total": finished - started,
            }
            self._settle(job, result=dataclasses.replace(result, timings=timings))
            log.info("job %s done in %.2fs", job.job_id, finished - started)
        except EngineError as error:
            log.info("job %s ended: %s", job.job_id, error.code)
            self._settle(job, error=error)
        except Exception as error:
            from engine.local.models import free_memory, is_out_of_memory

            if is_out_of_memory(error):
                log.warning("job %s ran out of memory: %s", job.job_id, error)
                free_memory(cache.device)
                self._settle(job, error=out_of_memory(cache.device.type))
            else:
                log.exception("job %s failed", job.job_id)
                self._settle(job, error=EngineFailure())

    def _describe(self, request: DescribeRequest, spec: ModelSpec, device: Any) -> Description:
        """On the worker thread: load the describer once, then score the image."""
        from engine.describe import load_describer
        from engine.local.images import decode_source

        source = describer_source(self._describer, Path(spec.source) if spec.local else None)
        describer = self._describers.get(source)
        if describer is None:
            describer = self._describers[source] = load_describer(source, device)
        return describer.describe(decode_source(request.image), request.count)  # type: ignore[no-any-return]

    def _report(self, job: _Job, step: int, total: int, preview: bytes | None) -> None:
        callback = job.on_progress
        if callback is None:
            return
        progress = Progress(step=step, total=total, preview=preview)

        def deliver() -> None:
            if job.future.done():
                return
            try:
                callback(progress)
            except Exception:
                log.exception("progress callback of job %s failed", job.job_id)

        with contextlib.suppress(RuntimeError):  # the caller's loop is closed
            job.loop.call_soon_threadsafe(deliver)

    @staticmethod
    def _settle(
        job: _Job, *, result: GenerationResult | Description | None = None, error: BaseException | None = None
    ) -> None:
        def apply() -> None:
            if job.future.done():
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)  # type: ignore[arg-type]

        with contextlib.suppress(RuntimeError):
            job.loop.call_soon_threadsafe(apply)
