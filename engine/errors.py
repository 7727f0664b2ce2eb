"""Typed engine errors. Every message is short and safe to show a Discord user."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: ``str(error)`` is a user-safe message, never a traceback or a secret."""

    code = "engine_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(EngineError):
    """A parameter, prompt or source image the engine cannot accept."""

    code = "invalid_request"


class UnknownModel(EngineError):
    """The model name is not configured, not on disk, or cannot be loaded offline."""

    code = "unknown_model"


class Cancelled(EngineError):
    """The job was cancelled before it finished; no images were produced."""

    code = "cancelled"

    def __init__(self, message: str = "The job was cancelled.") -> None:
        super().__init__(message)


class OutOfMemory(EngineError):
    """The device ran out of memory even after a retry at a smaller batch."""

    code = "out_of_memory"

    def __init__(self, message: str = "The GPU ran out of memory; try a smaller size.") -> None:
        super().__init__(message)


class EngineFailure(EngineError):
    """Anything else that went wrong inside the engine (details are logged, not shown)."""

    code = "engine_failure"

    def __init__(self, message: str = "The image engine failed on this job; it has been logged.") -> None:
        super().__init__(message)


class WorkerLost(EngineError):
    """The worker running the job died (killed, out of host memory, node lost) before it answered.

    Nothing was produced; the job may be run again elsewhere (the bot retries it once)."""

    code = "worker_lost"

    def __init__(self, message: str = "The image worker running this job was lost.") -> None:
        super().__init__(message)


class InvalidSetting(EngineError, ValueError):
    """An engine setting (``ENGINE_*``) has a value the engine cannot use; the message names the setting."""

    code = "invalid_setting"
