"""The engine's public, torch-free API: requests, results, progress and the ``Engine`` protocol.

``bot/`` imports only this module, :mod:`engine.errors` and :mod:`engine.prompt`; none of them imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from engine.errors import InvalidRequest

MAX_SEED = 4_294_967_295
TILES_PER_GRID = 4
DESCRIBE_COUNT = 4

Strength = Literal["subtle", "strong"]
UpscaleMode = Literal["standard", "subtle", "creative"]
OutpaintMode = Literal["zoom", "pan", "square"]
PanDirection = Literal["left", "right", "up", "down"]
JobKind = Literal["imagine", "variation", "upscale", "outpaint", "inpaint"]

UPSCALE_MODES: tuple[UpscaleMode, ...] = ("standard", "subtle", "creative")
PAN_DIRECTIONS: tuple[PanDirection, ...] = ("left", "right", "up", "down")
MIN_ZOOM, MAX_ZOOM = 1.0, 2.0
REGION_CELLS = 9  # Vary (Region): a 3×3 grid of cells, 1 top-left … 9 bottom-right


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
    """One tile made ``scale`` times larger by a high-resolution image-to-image pass (or an upscaler).

    ``mode``: ``standard`` (U1–U4), ``subtle`` (the same picture, sharper: Upscale (Subtle)) or ``creative``
    (more freedom to add detail: Upscale (Creative)); see :mod:`engine.local.params` for the strengths."""

    source: bytes
    prompt: str
    seed: int
    negative_prompt: str = ""
    scale: int = 2
    steps: int | None = None
    guidance: float | None = None
    tile: bool = False
    model: str | None = None
    mode: UpscaleMode = "standard"

    def __post_init__(self) -> None:
        if self.mode not in UPSCALE_MODES:
            raise InvalidRequest(
                f"The upscale mode must be one of {', '.join(UPSCALE_MODES)}; got `{self.mode}`."
            )


@dataclass(frozen=True, slots=True)
class OutpaintRequest:
    """Four tiles of ``source`` with new content around it (seeds ``seed … seed+3``); the source's pixels
    are kept exactly where they land.

    - ``zoom``: the output has the source's size; the source shrunk ``zoom`` times (1.0–2.0) into its centre.
    - ``pan``: the source extended by half its width (left/right) or height (up/down) towards ``direction``.
    - ``square``: the short side extended (both ways) to a square.
    """

    source: bytes
    prompt: str
    seed: int
    mode: OutpaintMode
    zoom: float = 2.0
    direction: PanDirection | None = None
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("zoom", "pan", "square"):
            raise InvalidRequest(f"Unknown outpaint mode `{self.mode}` (zoom, pan or square).")
        if self.mode == "zoom" and not MIN_ZOOM <= self.zoom <= MAX_ZOOM:
            raise InvalidRequest(
                f"The zoom factor must be from {MIN_ZOOM:g} to {MAX_ZOOM:g}; got {self.zoom:g}."
            )
        if self.mode == "pan" and self.direction not in PAN_DIRECTIONS:
            raise InvalidRequest(
                f"The pan direction must be one of {', '.join(PAN_DIRECTIONS)}; got {self.direction}."
            )
        if self.mode != "pan" and self.direction is not None:
            raise InvalidRequest("A direction is only used when panning.")


@dataclass(frozen=True, slots=True)
class InpaintRequest:
    """Vary (Region): four variations of ``source`` (seeds ``seed … seed+3``) redrawn only inside a region.

    The region is either ``regions`` (cells of a 3×3 grid, 1 top-left … 9 bottom-right) or ``mask`` (image
    bytes, white = redraw, resized to the source); pixels outside it are kept exactly. ``strength`` 0–1 is
    how much of the region is redrawn (1: from noise)."""

    source: bytes
    prompt: str
    seed: int
    regions: tuple[int, ...] = ()
    mask: bytes | None = None
    strength: float = 0.9
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if (self.mask is None) == (not self.regions):
            raise InvalidRequest("Choose the region to redraw: a mask or cells of the 3×3 grid (not both).")
        cells = self.regions
        if len(set(cells)) != len(cells) or not all(1 <= c <= REGION_CELLS for c in cells):
            raise InvalidRequest(f"Regions must be distinct cells from 1 to {REGION_CELLS}; got {cells}.")
        if len(cells) == REGION_CELLS:
            raise InvalidRequest("Redrawing every region is a plain variation; choose fewer regions.")
        if not 0.0 < self.strength <= 1.0:
            raise InvalidRequest(f"The region strength must be above 0 and at most 1; got {self.strength:g}.")


Request = GenerateRequest | VariationRequest | UpscaleRequest | OutpaintRequest | InpaintRequest


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
    for imagine/variation/outpaint/inpaint jobs and ``None`` for upscales. ``timings`` holds seconds per phase
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
