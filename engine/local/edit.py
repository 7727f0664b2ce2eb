"""Outpainting (Zoom Out, Pan, Make Square) and inpainting (Vary (Region)), run on the worker thread.

Both read like the other run functions: the source on a canvas (see :mod:`engine.local.canvas`) → settings
→ four seeded generators → one batched call of the family's inpainting pipeline, built ``from_pipe`` on the
loaded components (for an ordinary 4-channel UNet or transformer, diffusers blends the kept region's noised
latents back in at every step) → the kept pixels composited back exactly → PNG tiles and the 2×2 grid.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PIL import Image

from engine.api import GenerationResult, InpaintRequest, OutpaintRequest
from engine.errors import InvalidRequest
from engine.local import params
from engine.local.canvas import Canvas, composite, outpaint_canvas, region_mask, user_mask
from engine.local.images import decode_source
from engine.local.models import LoadedModel
from engine.local.render import JobControl, _generators, _result, _run_batched, _text_kwargs
from engine.local.sizes import fit_source
from engine.names import display_name

log = logging.getLogger(__name__)


def inpaint_pipeline(model: LoadedModel) -> Any:
    try:
        return model.inpaint
    except ValueError:
        raise InvalidRequest(
            f"Model `{display_name(model.spec.name)}` cannot redraw part of an image "
            "(no inpainting pipeline)."
        ) from None


def _source(model: LoadedModel, data: bytes) -> Image.Image:
    """The decoded source at a size the model can render (its size multiple, within its pixel budget)."""
    source = decode_source(data)
    size = fit_source(*source.size, native=model.info.native_size, multiple=model.multiple)
    return source if source.size == size else source.resize(size, Image.Resampling.LANCZOS)


def _paint(
    model: LoadedModel,
    canvas: Canvas,
    *,
    prompt: str,
    negative_prompt: str,
    seed: int,
    strength: float,
    steps: int | None,
    guidance: float | None,
    control: JobControl,
) -> tuple[list[Image.Image], tuple[int, ...], int, float]:
    info = model.info
    pipe = inpaint_pipeline(model)
    width, height = canvas.size
    if width % model.multiple or height % model.multiple:
        raise InvalidRequest(f"The image size {width}×{height} is not a multiple of {model.multiple} px.")
    total_steps = params.img2img_steps(
        info.default_steps, steps=steps, strength=strength, max_steps=info.capabilities.max_steps
    )
    scale = params.guidance_for(info.default_guidance, guidance=guidance)
    seeds = tuple(seed + i for i in range(4))

    def kwargs_for(batch: list[int]) -> dict[str, Any]:
        # Prompt, ``--no`` and guidance as the family takes them (ModelInfo.check refused what it cannot).
        kwargs = _text_kwargs(model, prompt, negative_prompt, scale, len(batch), pipe=pipe)
        kwargs.update(
            image=canvas.image,
            mask_image=canvas.mask,
            width=width,
            height=height,
            strength=strength,
            num_inference_steps=total_steps,
            num_images_per_prompt=1,
            generator=_generators(seeds[k] for k in batch),
        )
        return kwargs

    generated = _run_batched(pipe, model, kwargs_for, len(seeds), control, tile=False)
    return [composite(image, canvas) for image in generated], seeds, total_steps, scale


def outpaint(model: LoadedModel, request: OutpaintRequest, control: JobControl) -> GenerationResult:
    started = time.perf_counter()
    source = _source(model, request.source)
    canvas = outpaint_canvas(
        source,
        request.mode,
        zoom=request.zoom,
        direction=request.direction,
        multiple=model.multiple,
        native=model.info.native_size,
    )
    images, seeds, steps, guidance = _paint(
        model,
        canvas,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        seed=request.seed,
        strength=params.OUTPAINT_STRENGTH,
        steps=request.steps,
        guidance=request.guidance,
        control=control,
    )
    return _result("outpaint", model, images, seeds, steps, guidance, started, grid=True)


def inpaint(model: LoadedModel, request: InpaintRequest, control: JobControl) -> GenerationResult:
    started = time.perf_counter()
    source = _source(model, request.source)
    if request.mask is not None:
        mask = user_mask(decode_source(request.mask), source.size)
    else:
        mask = region_mask(source.size, request.regions)
    images, seeds, steps, guidance = _paint(
        model,
        Canvas(source, mask),
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        seed=request.seed,
        strength=request.strength,
        steps=request.steps,
        guidance=request.guidance,
        control=control,
    )
    return _result("inpaint", model, images, seeds, steps, guidance, started, grid=True)
