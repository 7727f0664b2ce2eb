"""The engine's public, torch-free API: requests, results, progress and the ``Engine`` protocol.

``bot/`` imports only this module, :mod:`engine.errors` and :mod:`engine.prompt`; none of them imports torch.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol, Self, runtime_checkable

from engine.errors import InvalidRequest

MAX_SEED = 4_294_967_295
TILES_PER_GRID = 4
DESCRIBE_COUNT = 4
MAX_PROMPT_CHARS = 1000
MAX_ASPECT = 4.0
QUALITIES = (0.25, 0.5, 1.0)
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_CHAOS = 100
MAX_STYLIZE = 1000
UPSCALE_SCALES = (2, 3, 4)
STRENGTHS: tuple[str, ...] = ("subtle", "strong")

Strength = Literal["subtle", "strong"]
UpscaleMode = Literal["standard", "subtle", "creative"]
OutpaintMode = Literal["zoom", "pan", "square"]
PanDirection = Literal["left", "right", "up", "down"]

UPSCALE_MODES: tuple[UpscaleMode, ...] = ("standard", "subtle", "creative")
# Upscale modes made without a model pass (a sharpened resize; ``standard`` is U1–U4, which an
# ENGINE_UPSCALER serves instead when configured); only ``creative`` is an image-to-image pass.
RESIZE_UPSCALE_MODES: tuple[UpscaleMode, ...] = ("standard", "subtle")
PAN_DIRECTIONS: tuple[PanDirection, ...] = ("left", "right", "up", "down")
MIN_ZOOM, MAX_ZOOM = 1.0, 2.0
REGION_CELLS = 9  # Vary (Region): a 3×3 grid of cells, 1 top-left … 9 bottom-right
JobKind = Literal["imagine", "variation", "upscale", "outpaint", "inpaint"]
GuidanceKind = Literal["cfg", "distilled", "none"]


def random_seed() -> int:
    """A random grid seed: ``seed`` to ``seed + 3`` are all valid seeds."""
    return secrets.randbelow(MAX_SEED - 3 + 1)


def check_aspect(width: float, height: float) -> None:
    """Refuse ratios beyond ``MAX_ASPECT``:1 either way (and non-positive sides)."""
    if width <= 0 or height <= 0 or max(width / height, height / width) > MAX_ASPECT + 1e-9:
        raise InvalidRequest(
            f"The aspect ratio must be between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1; "
            f"got {width:g}:{height:g}."
        )


def _check_text(prompt: str, negative: str, *, need_prompt: bool) -> None:
    if need_prompt and not prompt.strip():
        raise InvalidRequest("The prompt is empty: describe the image.")
    if len(prompt) > MAX_PROMPT_CHARS or len(negative) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"The prompt is too long (at most {MAX_PROMPT_CHARS} characters).")


def _check_seed(seed: int, highest: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= highest:
        raise InvalidRequest(f"The seed must be a whole number from 0 to {highest}; got {seed}.")


def _check_sampler(steps: int | None, guidance: float | None) -> None:
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise InvalidRequest(f"Steps must be from 1 to {MAX_STEPS}; got {steps}.")
    if guidance is not None and not (math.isfinite(guidance) and 0.0 <= guidance <= MAX_GUIDANCE):
        raise InvalidRequest(f"Guidance must be from 0 to {MAX_GUIDANCE:g}; got {guidance:g}.")


_BYTES_FIELDS = ("source", "mask")


def _plain(request: Any) -> dict[str, Any]:
    """The JSON form: every field except image bytes, tuples as lists."""
    data: dict[str, Any] = {}
    for item in fields(request):
        if item.name in _BYTES_FIELDS:
            continue
        value = getattr(request, item.name)
        data[item.name] = list(value) if isinstance(value, tuple) else value
    return data


def _from_plain(cls: Any, data: Mapping[str, Any], **extra: Any) -> Any:
    """Build ``cls`` from its JSON form (unknown keys ignored, missing ones default), then validate."""
    names = {item.name for item in fields(cls)}
    values: dict[str, Any] = {
        key: value for key, value in data.items() if key in names and key not in _BYTES_FIELDS
    }
    values.update(extra)
    for key in ("aspect", "tile_indices", "regions"):
        if isinstance(values.get(key), list):
            values[key] = tuple(int(v) for v in values[key])
    try:
        request = cls(**values)
    except TypeError as error:
        raise InvalidRequest(f"The stored request is incomplete ({error}).") from None
    request.validate()
    return request


class _SourceJson:
    """JSON form of a request whose only image bytes, ``source``, are stored beside its JSON."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: bytes) -> Self:
        request: Self = _from_plain(cls, data, source=source)
        return request


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

    def validate(self) -> None:
        """Model-independent checks; raises :class:`InvalidRequest` naming the parameter."""
        _check_text(self.prompt, self.negative_prompt, need_prompt=True)
        _check_seed(self.seed, MAX_SEED - (TILES_PER_GRID - 1))
        tiles = self.tile_indices
        if not tiles or len(set(tiles)) != len(tiles) or not all(1 <= t <= TILES_PER_GRID for t in tiles):
            raise InvalidRequest(f"Tiles must be distinct numbers from 1 to {TILES_PER_GRID}; got {tiles}.")
        if not 0 <= self.chaos <= MAX_CHAOS:
            raise InvalidRequest(f"`--chaos` must be from 0 to {MAX_CHAOS}; got {self.chaos}.")
        if not 0 <= self.stylize <= MAX_STYLIZE:
            raise InvalidRequest(f"`--stylize` must be from 0 to {MAX_STYLIZE}; got {self.stylize}.")
        if self.quality not in QUALITIES:
            raise InvalidRequest(f"`--quality` must be one of .25, .5 or 1; got {self.quality:g}.")
        if (self.width is None) != (self.height is None):
            raise InvalidRequest("Give both width and height, or neither.")
        check_aspect(*self.aspect)
        if self.width is not None and self.height is not None:
            check_aspect(self.width, self.height)
        _check_sampler(self.steps, self.guidance)

    def to_json(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GenerateRequest:
        request: GenerateRequest = _from_plain(cls, data)
        return request


@dataclass(frozen=True, slots=True)
class VariationRequest(_SourceJson):
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

    def validate(self) -> None:
        _check_text(self.prompt, self.negative_prompt, need_prompt=False)
        _check_seed(self.seed, MAX_SEED - (TILES_PER_GRID - 1))
        if self.strength not in STRENGTHS:
            raise InvalidRequest(f"The variation strength must be subtle or strong; got `{self.strength}`.")
        _check_sampler(self.steps, self.guidance)


@dataclass(frozen=True, slots=True)
class UpscaleRequest(_SourceJson):
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

    def validate(self) -> None:
        _check_text(self.prompt, self.negative_prompt, need_prompt=False)
        _check_seed(self.seed, MAX_SEED)
        if self.scale not in UPSCALE_SCALES:
            raise InvalidRequest(f"The upscale factor must be 2, 3 or 4; got {self.scale}.")
        if self.mode not in UPSCALE_MODES:
            raise InvalidRequest(
                f"The upscale mode must be one of {', '.join(UPSCALE_MODES)}; got `{self.mode}`."
            )
        _check_sampler(self.steps, self.guidance)


@dataclass(frozen=True, slots=True)
class OutpaintRequest(_SourceJson):
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

    def validate(self) -> None:
        _check_text(self.prompt, self.negative_prompt, need_prompt=False)
        _check_seed(self.seed, MAX_SEED - (TILES_PER_GRID - 1))
        _check_sampler(self.steps, self.guidance)
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

    def validate(self) -> None:
        _check_text(self.prompt, self.negative_prompt, need_prompt=False)
        _check_seed(self.seed, MAX_SEED - (TILES_PER_GRID - 1))
        _check_sampler(self.steps, self.guidance)
        if (self.mask is None) == (not self.regions):
            raise InvalidRequest("Choose the region to redraw: a mask or cells of the 3×3 grid (not both).")
        cells = self.regions
        if len(set(cells)) != len(cells) or not all(1 <= c <= REGION_CELLS for c in cells):
            raise InvalidRequest(f"Regions must be distinct cells from 1 to {REGION_CELLS}; got {cells}.")
        if len(cells) == REGION_CELLS:
            raise InvalidRequest("Redrawing every region is a plain variation; choose fewer regions.")
        if not 0.0 < self.strength <= 1.0:
            raise InvalidRequest(f"The region strength must be above 0 and at most 1; got {self.strength:g}.")

    def to_json(self) -> dict[str, Any]:
        """The JSON form; a ``mask`` (image bytes, like ``source``) is stored beside it, not in it."""
        return _plain(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: bytes, mask: bytes | None = None) -> InpaintRequest:
        request: InpaintRequest = _from_plain(cls, data, source=source, mask=mask)
        return request


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
class Capabilities:
    """What a model can do, as plain data (see :mod:`engine.local.capabilities` for how it is derived).

    ``reasons`` maps a feature the model cannot do (``negative_prompt``, ``chaos``, ``multiprompt``, ``tile``,
    ``img2img``, ``inpaint``, ``preview``) to a short explanation shown to users.
    """

    family: str = "unknown"
    size_multiple: int = 8
    guidance: GuidanceKind = "cfg"
    negative_prompt: bool = True
    max_steps: int = MAX_STEPS
    chaos: bool = True
    multiprompt: bool = True
    """Mixes the weighted parts of a multi-prompt (``a:: b::2``)."""
    tile: bool = True
    img2img: bool = True
    inpaint: bool = False
    preview: bool = True
    reasons: tuple[tuple[str, str], ...] = ()

    def why_not(self, feature: str) -> str:
        return dict(self.reasons).get(feature, "not supported")

    def to_json(self) -> dict[str, Any]:
        data = _plain(self)
        data["reasons"] = dict(self.reasons)
        return data


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the bot may show or need about a configured model; :meth:`check` is the per-model check."""

    name: str
    native_size: int
    default_steps: int
    default_guidance: float
    source: str
    capabilities: Capabilities = field(default_factory=Capabilities)

    def check(self, request: Request) -> None:
        """Refuse what this model cannot do, naming the model and the parameter (nothing runs, nothing
        is charged). The request must already be valid (:meth:`GenerateRequest.validate`)."""
        from engine.names import display_name

        caps = self.capabilities
        shown = display_name(self.name)

        def refuse(parameter: str, feature: str) -> InvalidRequest:
            return InvalidRequest(f"Model `{shown}` cannot take {parameter}: {caps.why_not(feature)}.")

        if "::" in request.prompt and not caps.multiprompt:  # engine.multiprompt.is_multi
            raise refuse("a multi-prompt (`::`)", "multiprompt")
        if request.negative_prompt and not caps.negative_prompt:
            raise refuse("`--no`", "negative_prompt")
        if getattr(request, "tile", False) and not caps.tile:
            raise refuse("`--tile`", "tile")
        if request.steps is not None and request.steps > caps.max_steps:
            raise InvalidRequest(
                f"Model `{shown}` takes at most {caps.max_steps} steps; got {request.steps}."
            )
        if caps.guidance == "none" and request.guidance:
            raise refuse("a guidance scale", "guidance")
        if isinstance(request, GenerateRequest):
            if request.chaos and not caps.chaos:
                raise refuse("`--chaos`", "chaos")
            if request.stylize != 100 and caps.guidance == "none":
                raise refuse("`--stylize`", "guidance")
            if request.width is not None and request.height is not None:
                multiple = caps.size_multiple
                for name, value in (("width", request.width), ("height", request.height)):
                    if value % multiple or not multiple <= value <= self.native_size * 4:
                        raise InvalidRequest(
                            f"Model `{shown}`: the {name} must be a multiple of {multiple} from "
                            f"{multiple} to {self.native_size * 4} pixels; got {value}."
                        )
        elif isinstance(request, OutpaintRequest | InpaintRequest):
            if not caps.inpaint:
                what = "zoom, pan or square" if isinstance(request, OutpaintRequest) else "vary a region"
                raise InvalidRequest(f"Model `{shown}` cannot {what}: {caps.why_not('inpaint')}.")
        elif not caps.img2img and not (
            isinstance(request, UpscaleRequest) and request.mode in RESIZE_UPSCALE_MODES
        ):  # U1–U4 and Upscale (Subtle) are a resize without a model pass: every model can make them
            what = "variations" if isinstance(request, VariationRequest) else "upscales"
            raise InvalidRequest(f"Model `{shown}` cannot make {what}: {caps.why_not('img2img')}.")


def request_kind(request: Request) -> JobKind:
    if isinstance(request, GenerateRequest):
        return "imagine"
    if isinstance(request, OutpaintRequest):
        return "outpaint"
    if isinstance(request, InpaintRequest):
        return "inpaint"
    return "variation" if isinstance(request, VariationRequest) else "upscale"


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

    def check(self, request: Request) -> ModelInfo | None:
        """Validate ``request`` and check it against its model, cheaply and without running anything;
        returns the model's info (``None`` if the engine does not know it yet). Raises
        :class:`engine.errors.InvalidRequest` or ``UnknownModel`` with a message safe to show. The bot calls
        this before charging; :meth:`run` checks again."""
        ...

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
