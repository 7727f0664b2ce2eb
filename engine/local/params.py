"""How the prompt's knobs map onto sampler settings.

- ``quality`` (.25, .5, 1) multiplies the model's default step count (at least one step).
- ``stylize`` (0–1000, default 100) scales the model's default classifier-free guidance ``g``:
  from ``0.4·g`` at 0, linearly to ``g`` at 100, then linearly to ``2·g`` at 1000.
  (Guidance of 1 or less turns classifier-free guidance off, and with it the negative prompt.)
- ``chaos`` (0–100) adds per-tile Gaussian noise to the prompt embedding, ``chaos/100`` of the embedding's
  standard deviation, seeded by the tile's seed: tiles drift further apart, and each stays reproducible alone.
- Variations: subtle = strength 0.35, strong = 0.7; upscales 0.3 (U1–U4), 0.18 (Upscale (Subtle)) and 0.4
  (Upscale (Creative)); the first two are guarded by :mod:`engine.local.faithful`.
- Outpainting (Zoom Out, Pan, Make Square) redraws the edge-filled surroundings at 0.5: on the shipped model a
  stronger pass draws a second object there.
"""

from __future__ import annotations

import math

from engine.errors import InvalidRequest

MAX_STEPS = 150
MAX_GUIDANCE = 30.0
STRENGTHS = {"subtle": 0.35, "strong": 0.7}
UPSCALE_STRENGTHS = {"standard": 0.3, "subtle": 0.18, "creative": 0.4}
UPSCALE_STRENGTH = UPSCALE_STRENGTHS["standard"]
# Outpainting starts from the source's edge pixels stretched outwards and redraws them this much.
OUTPAINT_STRENGTH = 0.5
CHAOS_SEED_OFFSET = 0x5EED


def steps_for(default_steps: int, *, steps: int | None, quality: float = 1.0) -> int:
    if steps is not None:
        if not 1 <= steps <= MAX_STEPS:
            raise InvalidRequest(f"Steps must be from 1 to {MAX_STEPS}; got {steps}.")
        return steps
    return max(1, round(default_steps * quality))


def guidance_for(default_guidance: float, *, guidance: float | None, stylize: int = 100) -> float:
    if guidance is not None:
        if not 0.0 <= guidance <= MAX_GUIDANCE:
            raise InvalidRequest(f"Guidance must be from 0 to {MAX_GUIDANCE:g}; got {guidance:g}.")
        return guidance
    factor = 0.4 + 0.6 * stylize / 100 if stylize <= 100 else 1.0 + (stylize - 100) / 900
    return round(default_guidance * factor, 3)


def img2img_steps(default_steps: int, *, steps: int | None, strength: float) -> int:
    """Scheduler steps for an image-to-image pass, so that about ``default_steps`` (or ``steps``)
    denoising steps actually run at ``strength``."""
    wanted = steps_for(default_steps, steps=steps)
    return min(MAX_STEPS, max(1, math.ceil(wanted / strength)))


def _check_common(prompt: str, negative: str, seed: int, max_seed: int, *, need_prompt: bool) -> None:
    from engine.prompt import MAX_PROMPT_CHARS

    if need_prompt and not prompt.strip():
        raise InvalidRequest("The prompt is empty: describe the image.")
    if len(prompt) > MAX_PROMPT_CHARS or len(negative) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"The prompt is too long (at most {MAX_PROMPT_CHARS} characters).")
    if not 0 <= seed <= max_seed:
        raise InvalidRequest(f"The seed must be from 0 to {max_seed}; got {seed}.")


def check_request(request: object) -> None:
    """Cheap validation before a job is queued (sizes and images are checked when the job runs)."""
    from engine.api import (
        MAX_SEED,
        TILES_PER_GRID,
        GenerateRequest,
        InpaintRequest,
        OutpaintRequest,
        UpscaleRequest,
        VariationRequest,
    )
    from engine.local.sizes import check_aspect

    if isinstance(request, GenerateRequest):
        _check_common(request.prompt, request.negative_prompt, request.seed, MAX_SEED - 3, need_prompt=True)
        tiles = request.tile_indices
        if not tiles or len(set(tiles)) != len(tiles) or not all(1 <= t <= TILES_PER_GRID for t in tiles):
            raise InvalidRequest(f"Tiles must be distinct numbers from 1 to {TILES_PER_GRID}; got {tiles}.")
        if not 0 <= request.chaos <= 100:
            raise InvalidRequest(f"`--chaos` must be from 0 to 100; got {request.chaos}.")
        if not 0 <= request.stylize <= 1000:
            raise InvalidRequest(f"`--stylize` must be from 0 to 1000; got {request.stylize}.")
        if not 0 < request.quality <= 2:
            raise InvalidRequest(f"`--quality` must be above 0 and at most 2; got {request.quality:g}.")
        if (request.width is None) != (request.height is None):
            raise InvalidRequest("Give both width and height, or neither.")
        check_aspect(*request.aspect)
    elif isinstance(request, VariationRequest):
        _check_common(request.prompt, request.negative_prompt, request.seed, MAX_SEED - 3, need_prompt=False)
        if request.strength not in STRENGTHS:
            raise InvalidRequest(
                f"The variation strength must be subtle or strong; got `{request.strength}`."
            )
        if not request.source:
            raise InvalidRequest("The source image is empty.")
    elif isinstance(request, UpscaleRequest):
        _check_common(request.prompt, request.negative_prompt, request.seed, MAX_SEED, need_prompt=False)
        if request.scale not in (2, 3, 4):
            raise InvalidRequest(f"The upscale factor must be 2, 3 or 4; got {request.scale}.")
        if not request.source:
            raise InvalidRequest("The source image is empty.")
    elif isinstance(request, OutpaintRequest | InpaintRequest):
        # The rest is checked by the request itself (``__post_init__``).
        _check_common(request.prompt, request.negative_prompt, request.seed, MAX_SEED - 3, need_prompt=False)
        if not request.source:
            raise InvalidRequest("The source image is empty.")
    else:
        raise InvalidRequest("Unsupported request type.")
    steps_for(1, steps=getattr(request, "steps", None))
    guidance_for(1.0, guidance=getattr(request, "guidance", None))
