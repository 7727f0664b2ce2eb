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

from engine.api import MAX_GUIDANCE, MAX_STEPS
from engine.errors import InvalidRequest

STRENGTHS = {"subtle": 0.35, "strong": 0.7}
# Upscales with a model pass: only Creative (U1–U4 and Subtle are a sharpened resize, engine.local.faithful).
UPSCALE_STRENGTHS = {"creative": 0.4}
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


def img2img_steps(
    default_steps: int, *, steps: int | None, strength: float, max_steps: int = MAX_STEPS
) -> int:
    """Scheduler steps for an image-to-image pass, so that about ``default_steps`` (or ``steps``)
    denoising steps actually run at ``strength`` (at most the scheduler's ``max_steps``)."""
    wanted = steps_for(default_steps, steps=steps)
    return min(max_steps, max(1, math.ceil(wanted / strength)))
