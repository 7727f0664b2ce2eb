"""``RayEngine``: the :class:`engine.api.Engine` the bot uses to run jobs on the Ray Serve worker app.

The bot joins the cluster as a driver (Ray Client cannot stream). A background thread connects, waits for the
app (``python -m engine serve`` deploys it) with a clear log line while it is missing, and keeps the count of
running replicas. Each job is one streaming call: ``Started``, ``Progress``…, then the result; cancelling it
cancels the response, and the replica stops within one step. A replica dying mid-job raises
:class:`engine.errors.WorkerLost`, which the bot answers by running the job once more (on another replica).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from engine.api import (
    DescribeRequest,
    Description,
    GenerationResult,
    ModelInfo,
    Progress,
    ProgressCallback,
    Request,
)
from engine.errors import Cancelled, EngineFailure, UnknownModel, WorkerLost
from engine.ray.cluster import ClusterUnavailable, connect
from engine.ray.messages import Failed, Finished, Started, WorkerStatus
from engine.ray.options import APP_NAME, DEPLOYMENT_NAME, RaySettings

log = logging.getLogger(__name__)

RETRY_S = 2.0
REMIND_S = 60.0
STATUS_EVERY_S = 5.0
READY_POLL_S = 0.2


def _worker_died(error: BaseException) -> bool:
    from ray import exceptions as rex
    from ray.serve.exceptions import ReplicaUnavailableError

    lost = (
        rex.RayActorError,
        rex.WorkerCrashedError,
        rex.NodeDiedError,
        rex.OutOfMemoryError,
        rex.LocalRayletDiedError,
        rex.ObjectLostError,
        ReplicaUnavailableError,
    )
    return isinstance(error, lost)


class RayEngine:
    """Jobs on the Ray Serve app ``imaginebot``; as many at once as it has replicas (:attr:`capacity`)."""

    def __init__(self, settings: RaySettings, *, default_model: str | None = None) -> None:
        self._settings = settings
        self._default = (default_model or "default").strip() or "default"
        self._status: WorkerStatus | None = None
        self._handle: Any = None
        self._running_replicas: int | None = None
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._owns_connection = False
        self._responses: dict[str, Any] = {}
        self._cancelled: set[str] = set()
        self.replicas: dict[str, str] = {}
        """Which replica (Ray actor name) runs each job in flight."""
        self.on_started: Callable[[str, Started], None] | None = None
        """Called with ``(job_id, Started)`` when a job gets its replica (monitoring, tests)."""
        self._thread = threading.Thread(target=self._watch, name="imaginebot-ray", daemon=True)
        self._thread.start()

    # -- the Engine protocol -------------------------------------------------------------------------------

    @property
    def default_model(self) -> str:
        return self._status.default_model if self._status is not None else self._default

    def models(self) -> list[ModelInfo]:
        if self._status is None:
            return []
        return [info for info in self._status.models if isinstance(info, ModelInfo)]

    @property
    def capacity(self) -> int:
        """Jobs to send at once: the app's replicas (the autoscaling maximum when it autoscales)."""
        return self._status.capacity if self._status is not None else 1

    def workers(self) -> tuple[int, int]:
        """``(busy, total)``: this bot's jobs on the workers, and the replicas running now."""
        total = self._running_replicas if self._running_replicas is not None else self.capacity
        return len(self._responses), total

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def check(self, request: Request) -> ModelInfo | None:
        """Validate ``request`` and check it against its model as the workers describe it (once they have
        answered), without running anything; returns that model's description."""
        request.validate()
        if self._status is None:
            return None
        name = request.model or self.default_model
        infos = {info.name: info for info in self.models()}
        info = infos.get(name)
        if info is None:
            available = ", ".join(f"`{known}`" for known in infos)
            raise UnknownModel(f"Unknown model `{name}`. Available: {available}.")
        info.check(request)  # what this model cannot take, from its capabilities
        return info

    async def run(
        self, request: Request, *, job_id: str, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        self.check(request)  # refused here, before a replica is taken, as the local engine does
        await self._wait_ready()
        if job_id in self._responses:
            raise EngineFailure(f"Job `{job_id}` is already running.")
        model_id = request.model or self.default_model
        handle = self._handle.options(stream=True, multiplexed_model_id=model_id)
        response = handle.run.remote(request, job_id)
        self._responses[job_id] = response
        try:
            async for item in response:
                if isinstance(item, Progress):
                    if on_progress is not None:
                        self._report(on_progress, item, job_id)
                elif isinstance(item, Started):
                    self.replicas[job_id] = item.replica
                    if self.on_started is not None:
                        self.on_started(job_id, item)
                elif isinstance(item, Finished):
                    return item.result
                elif isinstance(item, Failed):
                    raise item.error()
            raise EngineFailure()
        except asyncio.CancelledError:
            response.cancel()
            raise
        except Exception as error:
            from ray.exceptions import TaskCancelledError

            if not _is_ray_error(error):
                raise
            if isinstance(error, TaskCancelledError) or job_id in self._cancelled:
                raise Cancelled() from None
            if _worker_died(error):
                log.warning("job %s: its worker was lost (%s)", job_id, error.__class__.__name__)
                raise WorkerLost() from None
            log.error("job %s failed on the Ray workers: %s", job_id, error.__class__.__name__)
            raise EngineFailure() from None
        finally:
            self._responses.pop(job_id, None)
            self._cancelled.discard(job_id)
            self.replicas.pop(job_id, None)

    async def describe(self, request: DescribeRequest, *, job_id: str) -> Description:
        """``/describe`` on a replica holding the model (its describer is the app's ``ENGINE_DESCRIBER`` or
        the model's own CLIP)."""
        await self._wait_ready()
        handle = self._handle.options(multiplexed_model_id=request.model or self.default_model)
        try:
            answer = await handle.describe_image.remote(request, job_id)
        except Exception as error:
            if not _is_ray_error(error):
                raise
            if _worker_died(error):
                raise WorkerLost() from None
            log.error("describe %s failed on the Ray workers: %s", job_id, error.__class__.__name__)
            raise EngineFailure() from None
        if isinstance(answer, Failed):
            raise answer.error()
        if not isinstance(answer, Description):
            raise EngineFailure()
        return answer

    def cancel(self, job_id: str) -> bool:
        response = self._responses.get(job_id)
        if response is None:
            return False
        self._cancelled.add(job_id)
        response.cancel()
        return True

    async def close(self) -> None:
        self._closing.set()
        for job_id in list(self._responses):
            self.cancel(job_id)
        await asyncio.to_thread(self._thread.join, 10.0)
        if self._owns_connection:
            import ray

            await asyncio.to_thread(ray.shutdown)

    # -- internals -----------------------------------------------------------------------------------------

    @staticmethod
    def _report(callback: ProgressCallback, progress: Progress, job_id: str) -> None:
        try:
            callback(progress)
        except Exception:
            log.exception("progress callback of job %s failed", job_id)

    async def _wait_ready(self) -> None:
        while not self._ready.is_set():
            if self._closing.is_set():
                raise EngineFailure("The image engine is shutting down.")
            await asyncio.sleep(READY_POLL_S)

    def _watch(self) -> None:
        """Connect, wait for the app, then keep the number of running replicas fresh."""
        last_said: tuple[str, float] | None = None
        while not self._closing.is_set():
            if not self._ready.is_set():
                problem = self._try_connect()
                if problem is None:
                    continue
                now = time.monotonic()
                if last_said is None or last_said[0] != problem or now - last_said[1] > REMIND_S:
                    log.warning("%s", problem)
                    last_said = (problem, now)
                self._closing.wait(RETRY_S)
                continue
            self._refresh_replicas()
            self._closing.wait(STATUS_EVERY_S)

    def _try_connect(self) -> str | None:
        """``None`` once connected to a deployed app, else what is missing (said once in the log)."""
        import ray
        from ray import serve

        try:
            if not ray.is_initialized():
                connect(self._settings)
                self._owns_connection = True
        except ClusterUnavailable as error:
            return f"{error} Waiting for it."
        except Exception as error:  # e.g. a wrong token: Ray's own message, which never holds the token
            return f"Could not join the Ray cluster: {error.__class__.__name__}: {error}. Retrying."
        try:
            handle = serve.get_app_handle(APP_NAME)
            status = handle.describe.remote().result(timeout_s=30)
        except Exception as error:
            return (
                f"The Ray Serve app `{APP_NAME}` is not deployed on the cluster yet "
                f"({error.__class__.__name__}); deploy it with `python -m engine serve`. "
                "Jobs wait until it is."
            )
        self._handle, self._status = handle, status
        self._ready.set()
        self._refresh_replicas()
        log.info(
            "connected to the Ray Serve app `%s`: model %s, %d worker(s)",
            APP_NAME,
            status.default_model,
            status.capacity,
        )
        return None

    def _refresh_replicas(self) -> None:
        from ray import serve

        try:
            app = serve.status().applications.get(APP_NAME)
            if app is None:
                return
            deployment = app.deployments.get(DEPLOYMENT_NAME)
            if deployment is None:
                return
            states: dict[Any, int] = dict(deployment.replica_states)
            self._running_replicas = int(states.get("RUNNING", 0))
        except Exception as error:
            log.debug("could not read the Serve status: %s", error.__class__.__name__)


def _is_ray_error(error: BaseException) -> bool:
    from ray.exceptions import RayError
    from ray.serve.exceptions import RayServeException

    return isinstance(error, RayError | RayServeException)
