"""The pipeline calls for each kind of job, run on the worker thread.

Each reads like a diffusers call: sizes and settings → generators → one batched pipeline call (with progress,
preview, cancellation and seamless tiling) → PNG tiles and the 2×2 grid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from engine.api import (
    GenerateRequest,
    GenerationResult,
    InpaintRequest,
    OutpaintRequest,
    Request,
    UpscaleRequest,
    VariationRequest,
)
from engine.errors import Cancelled, InvalidRequest
from engine.local import faithful, params
from engine.local.images import decode_source, encode_png, grid_image
from engine.local.models import LoadedModel, free_memory, is_out_of_memory
from engine.local.preview import current_sigma
from engine.local.sizes import check_explicit_size, fit_source, size_for_aspect
from engine.local.tiling import seamless
from engine.local.upscaler import LoadedUpscaler, run_upscaler
from engine.local.weights import weighted_embeddings
from engine.multiprompt import CHAOS_WITH_PARTS, is_multi, plain_text, split_weighted

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobControl:
    """How a running job talks back: cancellation flag, progress sink, preview interval (0 = none)."""

    cancelled: Callable[[], bool]
    report: Callable[[int, int, bytes | None], None]
    preview_every: int = 0


KwargsFor = Callable[[list[int]], dict[str, Any]]


def render(
    model: LoadedModel, request: Request, control: JobControl, upscaler: LoadedUpscaler | None = None
) -> GenerationResult:
    if isinstance(request, GenerateRequest):
        return generate(model, request, control)
    if isinstance(request, VariationRequest):
        return vary(model, request, control)
    if isinstance(request, UpscaleRequest):
        if upscaler is not None and request.mode == "standard":  # Subtle/Creative are passes of the model
            return upscale_with(upscaler, model, request, control)
        return upscale(model, request, control)
    if isinstance(request, OutpaintRequest | InpaintRequest):
        from engine.local import edit

        if isinstance(request, OutpaintRequest):
            return edit.outpaint(model, request, control)
        return edit.inpaint(model, request, control)
    raise InvalidRequest("Unsupported request type.")


def generate(model: LoadedModel, request: GenerateRequest, control: JobControl) -> GenerationResult:
    started = time.perf_counter()
    info = model.info
    if request.width is not None and request.height is not None:
        width, height = check_explicit_size(
            request.width, request.height, native=info.native_size, multiple=model.multiple
        )
    else:
        width, height = size_for_aspect(request.aspect, native=info.native_size, multiple=model.multiple)
    steps = params.steps_for(info.default_steps, steps=request.steps, quality=request.quality)
    guidance = params.guidance_for(info.default_guidance, guidance=request.guidance, stylize=request.stylize)
    seeds = tuple(request.seed + tile - 1 for tile in request.tile_indices)
    pipe = model.pipe
    common: dict[str, Any] = {
        "width": width,
        "height": height,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
    }
    weighted = _weighted(model, request)
    embeds = (
        _chaos_embeddings(model, request, seeds, guidance) if request.chaos and weighted is None else None
    )

    def kwargs_for(batch: list[int]) -> dict[str, Any]:
        kwargs = dict(common, generator=_generators(seeds[k] for k in batch))
        if weighted is not None:  # a multi-prompt: its `--no` items are parts already
            kwargs.update(
                {name: value.repeat_interleave(len(batch), dim=0) for name, value in weighted.items()}
            )
            kwargs["num_images_per_prompt"] = 1
        elif embeds is not None:
            positive, negative = embeds
            kwargs.update(prompt_embeds=positive[batch], num_images_per_prompt=1)
            if negative is not None:
                kwargs["negative_prompt_embeds"] = negative[batch]
        else:
            kwargs.update(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt or None,
                num_images_per_prompt=len(batch),
            )
        return kwargs

    images = _run_batched(pipe, model, kwargs_for, len(seeds), control, tile=request.tile)
    return _result("imagine", model, images, seeds, steps, guidance, started, grid=True)


def vary(model: LoadedModel, request: VariationRequest, control: JobControl) -> GenerationResult:
    started = time.perf_counter()
    info = model.info
    source = decode_source(request.source)
    size = fit_source(*source.size, native=info.native_size, multiple=model.multiple)
    source = _resized(source, size)
    strength = params.STRENGTHS[request.strength]
    steps = params.img2img_steps(info.default_steps, steps=request.steps, strength=strength)
    guidance = params.guidance_for(info.default_guidance, guidance=request.guidance)
    seeds = tuple(request.seed + i for i in range(4))

    text = _prompt_kwargs(model, model.img2img, request.prompt, request.negative_prompt)

    def kwargs_for(batch: list[int]) -> dict[str, Any]:
        return {
            **text(len(batch)),
            "image": source,
            "strength": strength,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "generator": _generators(seeds[k] for k in batch),
        }

    images = _run_batched(model.img2img, model, kwargs_for, len(seeds), control, tile=request.tile)
    return _result("variation", model, images, seeds, steps, guidance, started, grid=True)


def upscale(model: LoadedModel, request: UpscaleRequest, control: JobControl) -> GenerationResult:
    started = time.perf_counter()
    info = model.info
    source = decode_source(request.source)
    size = fit_source(*source.size, native=info.native_size, multiple=model.multiple, scale=request.scale)
    limit = faithful.LIMITS.get(request.mode)
    source = faithful.sharpened(source, size) if limit is not None else _resized(source, size)
    strength = params.UPSCALE_STRENGTHS[request.mode]
    steps = params.img2img_steps(info.default_steps, steps=request.steps, strength=strength)
    guidance = params.guidance_for(info.default_guidance, guidance=request.guidance)

    text = _prompt_kwargs(model, model.img2img, request.prompt, request.negative_prompt)

    def kwargs_for(batch: list[int]) -> dict[str, Any]:
        return {
            **text(1),
            "image": source,
            "strength": strength,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "generator": _generators([request.seed]),
        }

    if limit == 0:  # the sharpened resize is the result: no model pass
        control.report(1, 1, None)
        return _result("upscale", model, [source], (request.seed,), 0, guidance, started, grid=False)
    images = _run_batched(model.img2img, model, kwargs_for, 1, control, tile=request.tile)
    if limit is not None:
        images = [faithful.keep_faithful(source, image, limit=limit) for image in images]
    return _result("upscale", model, images, (request.seed,), steps, guidance, started, grid=False)


def upscale_with(
    upscaler: LoadedUpscaler, model: LoadedModel, request: UpscaleRequest, control: JobControl
) -> GenerationResult:
    """An upscale through the dedicated upscaler pipeline (``ENGINE_UPSCALER``)."""
    started = time.perf_counter()
    source = decode_source(request.source)
    target = fit_source(*source.size, native=model.info.native_size, multiple=8, scale=request.scale)
    with seamless([getattr(upscaler.pipe, "unet", None), getattr(upscaler.pipe, "vae", None)], request.tile):
        image, steps, guidance = run_upscaler(
            upscaler,
            source,
            target,
            prompt=plain_text(request.prompt),
            negative_prompt=request.negative_prompt,
            seed=request.seed,
            steps=request.steps,
            guidance=request.guidance,
            cancelled=control.cancelled,
            report=lambda step, total: control.report(step, total, None),
        )
    return _result("upscale", model, [image], (request.seed,), steps, guidance, started, grid=False)


def _generators(seeds: Any) -> list[torch.Generator]:
    """CPU generators, so a seed gives the same starting noise on every device."""
    return [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _prompt_kwargs(
    model: LoadedModel, pipe: Any, prompt: str, negative: str
) -> Callable[[int], dict[str, Any]]:
    """The text arguments of an image-to-image call for ``count`` images (mixed embeddings for a
    multi-prompt)."""
    if not is_multi(prompt):
        return lambda count: {
            "prompt": prompt,
            "negative_prompt": negative or None,
            "num_images_per_prompt": count,
        }
    mixed = weighted_embeddings(pipe, split_weighted(prompt, negative), model.device, model=model.spec.name)
    return lambda count: {
        **{name: value.repeat_interleave(count, dim=0) for name, value in mixed.items()},
        "num_images_per_prompt": 1,
    }


def _weighted(model: LoadedModel, request: GenerateRequest) -> dict[str, torch.Tensor] | None:
    """The mixed embeddings of a multi-prompt (``a::2 b``), or ``None`` for an ordinary prompt."""
    if not is_multi(request.prompt):
        return None
    if request.chaos:
        raise InvalidRequest(CHAOS_WITH_PARTS)
    parts = split_weighted(request.prompt, request.negative_prompt)
    return weighted_embeddings(model.pipe, parts, model.device, model=model.spec.name)


def _chaos_embeddings(
    model: LoadedModel, request: GenerateRequest, seeds: tuple[int, ...], guidance: float
) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Per-tile prompt embeddings with seeded noise (see :mod:`engine.local.params`), or ``None`` when the
    pipeline does not take plain ``prompt_embeds``."""
    pipe = model.pipe
    encode = getattr(pipe, "encode_prompt", None)
    if encode is None or type(pipe).__name__ != "StableDiffusionPipeline":
        log.info("--chaos is not supported by %s; ignored", type(pipe).__name__)
        return None
    use_cfg = guidance > 1 and getattr(pipe.unet.config, "time_cond_proj_dim", None) is None
    with torch.no_grad():
        positive, negative = encode(
            request.prompt, model.device, 1, use_cfg, negative_prompt=request.negative_prompt or None
        )
    scale = request.chaos / 100 * float(positive.float().std())
    noisy = []
    for seed in seeds:
        generator = torch.Generator("cpu").manual_seed(seed + params.CHAOS_SEED_OFFSET)
        noise = torch.randn(positive.shape, generator=generator).to(positive.device, positive.dtype)
        noisy.append(positive + noise * scale)
    tiles = len(seeds)
    return torch.cat(noisy), negative.repeat(tiles, 1, 1) if use_cfg and negative is not None else None


def _run_batched(
    pipe: Any, model: LoadedModel, kwargs_for: KwargsFor, count: int, control: JobControl, *, tile: bool
) -> list[Image.Image]:
    """One batched call; on a GPU out-of-memory error, free memory and retry once one tile at a time."""
    try:
        return _call(pipe, model, kwargs_for(list(range(count))), control, tile=tile, part=(0, 1))
    except Exception as error:
        if model.device.type == "cpu" or count == 1 or not is_out_of_memory(error):
            raise
        log.warning("out of memory at batch %d on %s; retrying one tile at a time", count, model.device)
    free_memory(model.device)
    images: list[Image.Image] = []
    for k in range(count):
        images += _call(pipe, model, kwargs_for([k]), control, tile=tile, part=(k, count))
    return images


def _call(
    pipe: Any,
    model: LoadedModel,
    kwargs: dict[str, Any],
    control: JobControl,
    *,
    tile: bool,
    part: tuple[int, int],
) -> list[Image.Image]:
    """One pipeline call with a fresh scheduler, reporting each step; raises :class:`Cancelled` from the
    step callback (so the final decode is skipped)."""
    if control.cancelled():
        raise Cancelled()
    # A fresh scheduler of the same class and config: set it directly (DiffusionPipeline.__setattr__ would
    # re-register the identical config entry, which costs more than the copy).
    object.__setattr__(pipe, "scheduler", model.fresh_scheduler())
    index, parts = part
    fallback_total = int(kwargs["num_inference_steps"])

    def on_step_end(p: Any, i: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if control.cancelled():
            raise Cancelled()
        total = int(getattr(p, "num_timesteps", 0) or fallback_total)
        step = i + 1
        preview = None
        if control.preview_every and step % control.preview_every == 0 and step < total:
            preview = model.previewer.render(tensors["latents"], sigma=current_sigma(p.scheduler))
        control.report(index * total + step, parts * total, preview)
        return {}

    with seamless([getattr(pipe, "unet", None), getattr(pipe, "vae", None)], enabled=tile):
        output = pipe(**kwargs, callback_on_step_end=on_step_end, output_type="pil")
    return list(output.images)


def _result(
    kind: Any,
    model: LoadedModel,
    images: list[Image.Image],
    seeds: tuple[int, ...],
    steps: int,
    guidance: float,
    started: float,
    *,
    grid: bool,
) -> GenerationResult:
    rendered = time.perf_counter()
    tiles = tuple(encode_png(image) for image in images)
    grid_png = encode_png(grid_image(images)) if grid else None
    done = time.perf_counter()
    width, height = images[0].size
    return GenerationResult(
        kind=kind,
        images=tiles,
        seeds=seeds,
        width=width,
        height=height,
        model=model.spec.name,
        grid=grid_png,
        steps=steps,
        guidance=guidance,
        timings={"render": rendered - started, "encode": done - rendered},
    )
