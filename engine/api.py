"""The engine's public, torch-free API: requests, results, progress and the ``Engine`` protocol.

``bot/`` imports only this module, :mod:`engine.errors` and :mod:`engine.prompt`; none of them imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

MAX_SEED = 4_294_967_295
TILES_PER_GRID = 4
DESCRIBE_COUNT = 4

Strength = Literal["subtle", "strong"]
JobKind = Literal["imagine", "variation", "upscale"]


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """Four tiles of one prompt, seeded ``seed, seed+1, seed+2, seed+3``.

    ``aspect`` is ``(w, h)``; the engine turns it into a size within the model's native pixel budget
    unless ``width``/``height`` are both given. ``steps``/``guidance`` of ``None`` mean the model's defaults,
    scaled by ``quality`` (steps) and ``stylize`` (guidance). ``chaos`` 0–100 widens the spread between the
    four tiles.
    ``tile_indices`` renders only some tiles (1-based) — tile *i* alone equals tile *i* of the full grid.
    """

    prompt: str
    seed: int
    negative_prompt: str = ""
    aspect: tuple[int, int] = (1, 1)
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    quality: float = 1.0
    stylize: int = 100
    chaos: int = 0
    tile: bool = False
    model: str | None = None
    tile_indices: tuple[int, ...] = (1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class VariationRequest:
    """Four image-to-image variations of one tile (``source`` is encoded image bytes, PNG/JPEG/WebP)."""

    source: bytes
    prompt: str
    seed: int
    strength: Strength = "strong"
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    tile: bool = False
    model: str | None = None


@dataclass(frozen=True, slots=True)
class UpscaleRequest:
    """One tile made ``scale`` times larger by a high-resolution image-to-image pass (or an upscaler)."""

    source: bytes
    prompt: str
    seed: int
    negative_prompt: str = ""
    scale: int = 2
    steps: int | None = None
    guidance: float | None = None
    tile: bool = False
    model: str | None = None


Request = GenerateRequest | VariationRequest | UpscaleRequest


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after each denoising step; ``preview`` is a small JPEG (cheap approximation) or ``None``."""

    step: int
    total: int
    preview: bytes | None = None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What a job produced. ``images`` are PNG bytes (one per tile, or one upscale); ``grid`` is the 2×2 PNG
    for imagine/variation jobs and ``None`` for upscales. ``timings`` holds seconds per phase
    (e.g. ``load``, ``denoise``, ``decode``, ``encode``, ``total``)."""

    kind: JobKind
    images: tuple[bytes, ...]
    seeds: tuple[int, ...]
    width: int
    height: int
    model: str
    grid: bytes | None = None
    steps: int = 0
    guidance: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the bot may show or need about a configured model."""

    name: str
    native_size: int
    default_steps: int
    default_guidance: float
    source: str


@dataclass(frozen=True, slots=True)
class DescribeRequest:
    """Candidate prompts for an image (``image``: encoded PNG/JPEG/WebP bytes), for ``model``'s describer."""

    image: bytes
    model: str | None = None
    count: int = DESCRIBE_COUNT


@dataclass(frozen=True, slots=True)
class Description:
    """``prompts``, most likely first, with their similarity ``scores``; ``describer`` names its model."""

    prompts: tuple[str, ...]
    scores: tuple[float, ...]
    describer: str


ProgressCallback = Callable[[Progress], None]


@runtime_checkable
class Engine(Protocol):
    """Runs one job at a time on a worker it owns; every method is safe to call from the event loop."""

    @property
    def default_model(self) -> str: ...

    def models(self) -> list[ModelInfo]: ...

    async def run(
        self, request: Request, *, job_id: str, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Run ``request`` and return its result. ``on_progress`` is called on the caller's event loop.

        Raises :class:`engine.errors.EngineError` subclasses (``Cancelled`` if :meth:`cancel` was called).
        """
        ...

    async def describe(self, request: DescribeRequest, *, job_id: str) -> Description:
        """Candidate prompts for an image, run on the engine's worker like a job. Raises
        :class:`engine.errors.InvalidRequest` when no describer is configured for the model."""
        ...

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; returns whether the job was known. Stops within one step."""
        ...

    async def close(self) -> None:
        """Finish or cancel the current job, stop the worker and free the model(s)."""
        ...
