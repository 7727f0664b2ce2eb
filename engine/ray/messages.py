"""What a worker replica streams back for one job (ray- and torch-free; frozen dataclasses pickle as is).

A job's stream is ``Started``, then any number of :class:`engine.api.Progress`, then exactly one ``Finished``
or ``Failed``. Engine errors travel as ``Failed`` values rather than exceptions, so the bot sees the same
short, user-safe :class:`engine.errors.EngineError` it gets from the local engine, never a remote traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.api import GenerationResult
from engine.errors import (
    Cancelled,
    EngineError,
    EngineFailure,
    InvalidRequest,
    OutOfMemory,
    UnknownModel,
    WorkerLost,
)

_ERRORS: dict[str, type[EngineError]] = {
    cls.code: cls for cls in (InvalidRequest, UnknownModel, Cancelled, OutOfMemory, EngineFailure, WorkerLost)
}


@dataclass(frozen=True, slots=True)
class Started:
    """The job got a replica (``replica``: its Ray actor name) at ``at`` (wall-clock seconds).

    ``previous`` is the replica's previous job and when its worker thread let go of it (always ``<= at``: a
    replica never overlaps two jobs, even when the previous one was cancelled); ``None`` for its first job."""

    replica: str
    at: float
    previous: tuple[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    result: GenerationResult
    replica: str


@dataclass(frozen=True, slots=True)
class Failed:
    code: str
    message: str

    @classmethod
    def of(cls, error: EngineError) -> Failed:
        return cls(code=error.code, message=error.message)

    def error(self) -> EngineError:
        """The engine error this stands for (an unknown code becomes :class:`EngineFailure`)."""
        kind = _ERRORS.get(self.code, EngineFailure)
        error = kind.__new__(kind)
        EngineError.__init__(error, self.message)
        return error


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """What the app tells a client that connects: the model it serves by default, the models it knows,
    and how many jobs it can run at once (replicas, or the autoscaling maximum)."""

    default_model: str
    models: tuple[object, ...]  # engine.api.ModelInfo, kept loose so a newer ModelInfo still unpickles
    capacity: int
