"""The pipeline calls for each kind of job, run on the worker thread.

Each reads like a diffusers call: sizes and settings → generators → one batched pipeline call (with progress,
preview, cancellation, ``--chaos`` and seamless tiling) → PNG tiles and the 2×2 grid. What differs between
families is read from the model's description (:mod:`engine.local.capabilities`).
"""

from __future__ import annotations

import functools
import inspect
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
from engine.errors import Cancelled, EngineFailure, InvalidRequest
from engine.local import faithful, params
from engine.local.capabilities import TRUE_CFG_SCALE
from engine.local.images import decode_source, encode_png, grid_image
from engine.local.models import LoadedModel, free_memory, is_out_of_memory
from engine.local.preview import current_sigma, decoded_preview, unpack_latents
from engine.local.sizes import check_explicit_size, fit_source, size_for_aspect
from engine.local.tiling import seamless
from engine.local.upscaler import LoadedUpscaler, run_upscaler
from engine.local.weights import weighted_embeddings
from engine.multiprompt import CHAOS_WITH_PARTS, is_multi, plain_text, split_weighted

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobControl:
    """How a running job talks back: cancellation flag, progress sink, preview interval (0 = none), and an
    optional tiny preview decoder (``ENGINE_PREVIEW_DECODER``) used instead of the linear latent map."""

    cancelled: Callable[[], bool]
    report: Callable[[int, int, bytes | None], None]
    preview_every: int = 0
    decoder: Any = None


KwargsFor = Callable[[list[int]], dict[str, Any]]


def render(
    model: LoadedModel, request: Request, control: JobControl, upscaler: LoadedUpscaler | None = None
) -> GenerationResult:
    if isinstance(request, GenerateRequest):
        return generate(model, request, control)
    if isinstance(request, VariationRequest):
        return vary(model, request, control)
    if isinstance(request, UpscaleRequest):
        if upscaler is not None and request.mode == "standard":  # only U goes through ENGINE_UPSCALER
            return upscale_with(upscaler, model, request, control)
        return upscale(model, request, control)
    if isinstance(request, OutpaintRequest | InpaintRequest):
        from engine.local import edit

        if isinstance(request, OutpaintRequest):
            return edit.outpaint(model, request, control)
        return edit.inpaint(model, request, control)
    raise InvalidRequest("Unsupported request type.")


def _text_kwargs(
    model: LoadedModel, prompt: str, negative: str, guidance: float, count: int, *, pipe: Any = None
) -> dict[str, Any]:
    """Prompt, negative prompt and guidance as this family takes them, for ``count`` images; a multi-prompt
    (``a::2 b``) becomes its parts' embeddings mixed by weight (its ``--no`` items are parts already)."""
    family = model.description.family
    kwargs: dict[str, Any] = {"prompt": [prompt] * count, "guidance_scale": guidance}
    if is_multi(prompt):
        parts = split_weighted(prompt, negative)
        mixed = weighted_embeddings(pipe or model.pipe, parts, model.device, model=model.spec.name)
        kwargs = {name: value.repeat_interleave(count, dim=0) for name, value in mixed.items()}
        kwargs["guidance_scale"] = guidance
        negative = ""
    if negative:  # ModelInfo.check refused it where the model has no negative pass
        kwargs["negative_prompt"] = [negative] * count
        if family.true_cfg:
            kwargs["true_cfg_scale"] = TRUE_CFG_SCALE
    if family.binning:  # PixArt, Sana: exact sizes, and captions as typed (cleaning needs extra packages)
        kwargs.update(use_resolution_binning=False, clean_caption=False)
    return kwargs


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
    if request.chaos and is_multi(request.prompt):
        raise InvalidRequest(CHAOS_WITH_PARTS)

    def kwargs_for(batch: list[int]) -> dict[str, Any]:
        return {
            **_text_kwargs(model, request.prompt, request.negative_prompt, guidance, len(batch)),
            "width": width,
            "height": height,
            "num_inference_steps": steps,
            "num_images_per_prompt": 1,
            "generator": _generators(seeds[k] for k in batch),
        }

    chaos = Chaos(request.chaos, seeds) if request.chaos else None
    images = _run_batched(model.pipe, model, kwargs_for, len(seeds), control, tile=request.tile, chaos=chaos)
    return _result("imagine", model, images, seeds, steps, guidance, started, grid=True)


def vary(model: LoadedModel, request: VariationRequest, control: JobControl) -> GenerationResult:
    started = time.perf_counter()
    source = decode_source(request.source)
    size = fit_source(*source.size, native=model.info.native_size, multiple=model.multiple)
    strength = params.STRENGTHS[request.strength]
    seeds = tuple(request.seed + i for i in range(4))
    images, steps, guidance = _img2img(model, request, _resized(source, size), strength, seeds, control)
    return _result("variation", model, images, seeds, steps, guidance, started, grid=True)


def upscale(model: LoadedModel, request: UpscaleRequest, control: JobControl) -> GenerationResult:
    started = time.perf_counter()
    source = decode_source(request.source)
    size = fit_source(
        *source.size, native=model.info.native_size, multiple=model.multiple, scale=request.scale
    )
    if request.mode in faithful.RESIZE_MODES:  # the sharpened resize is the result: no model pass
        if control.cancelled():
            raise Cancelled()
        control.report(1, 1, None)
        guidance = params.guidance_for(model.info.default_guidance, guidance=request.guidance)
        upscaled = faithful.sharpened(source, size)
        return _result("upscale", model, [upscaled], (request.seed,), 0, guidance, started, grid=False)
    strength = params.UPSCALE_STRENGTHS[request.mode]
    images, steps, guidance = _img2img(
        model, request, _resized(source, size), strength, (request.seed,), control
    )
    return _result("upscale", model, images, (request.seed,), steps, guidance, started, grid=False)


def _img2img(
    model: LoadedModel,
    request: VariationRequest | UpscaleRequest,
    source: Image.Image,
    strength: float,
    seeds: tuple[int, ...],
    control: JobControl,
) -> tuple[list[Image.Image], int, float]:
    """Image-to-image at exactly ``source``'s size: diffusers' pipeline for the family, or (PixArt, Sana)
    the text-to-image pipeline started from the encoded, noised source on the trimmed schedule."""
    info = model.info
    steps = params.img2img_steps(
        info.default_steps, steps=request.steps, strength=strength, max_steps=info.capabilities.max_steps
    )
    guidance = params.guidance_for(info.default_guidance, guidance=request.guidance)
    width, height = source.size
    by_components = model.description.family.img2img == "components"

    text_pipe = model.pipe if by_components else model.img2img

    def kwargs_for(batch: list[int]) -> dict[str, Any]:
        kwargs = {
            **_text_kwargs(
                model, request.prompt, request.negative_prompt, guidance, len(batch), pipe=text_pipe
            ),
            "num_inference_steps": steps,
            "num_images_per_prompt": 1,
            "generator": _generators(seeds[k] for k in batch),
            "width": width,
            "height": height,
        }
        if by_components:
            kwargs["latents"] = _noised_source(model, source, [seeds[k] for k in batch], steps, strength)
        else:
            kwargs.update(image=[source] * len(batch), strength=strength)
            if "width" not in inspect.signature(model.img2img.__call__).parameters:
                del kwargs["width"], kwargs["height"]  # SD/SDXL take the size from the image
        return kwargs

    pipe = model.pipe if by_components else model.img2img
    trim = strength if by_components else None
    images = _run_batched(pipe, model, kwargs_for, len(seeds), control, tile=request.tile, trim=trim)
    return images, steps, guidance


def _noised_source(
    model: LoadedModel, source: Image.Image, seeds: list[int], steps: int, strength: float
) -> torch.Tensor:
    """The source's latents noised to where a ``strength`` pass starts (one noise per seed)."""
    pipe = model.pipe
    vae = pipe.vae
    param = next(vae.parameters())
    pixels = pipe.image_processor.preprocess(source, height=source.height, width=source.width)
    with torch.no_grad():
        encoded = vae.encode(pixels.to(param.device, param.dtype))
    latents = encoded.latent_dist.mean if hasattr(encoded, "latent_dist") else encoded.latent
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    latents = (latents - shift) * vae.config.scaling_factor
    scratch = model.fresh_scheduler()
    scratch.set_timesteps(steps, device=latents.device)
    start = _trim_start(len(scratch.timesteps), strength)
    timestep = scratch.timesteps[start : start + 1]
    noised = []
    for seed in seeds:
        generator = torch.Generator("cpu").manual_seed(int(seed))
        noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
        if hasattr(scratch, "scale_noise"):  # flow matching: x = σ·noise + (1 − σ)·x₀
            noised.append(scratch.scale_noise(latents, timestep, noise))
        else:
            noised.append(scratch.add_noise(latents, noise, timestep))
    return torch.cat(noised)


def _trim_start(count: int, strength: float) -> int:
    """The first of ``count`` scheduled steps a ``strength`` image-to-image pass runs."""
    return count - min(count, max(1, round(count * strength)))


def _trimmed(scheduler: Any, strength: float) -> None:
    """Make ``scheduler`` run only the last ``strength`` of the schedule it is given (its timesteps and, for
    sigma schedulers, its sigmas), as diffusers' image-to-image pipelines do."""
    original = scheduler.set_timesteps

    @functools.wraps(original)
    def set_timesteps(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        full = len(scheduler.timesteps)
        start = _trim_start(full, strength)
        scheduler.timesteps = scheduler.timesteps[start:]
        sigmas = getattr(scheduler, "sigmas", None)
        if sigmas is not None and len(sigmas) in (full, full + 1):
            scheduler.sigmas = sigmas[start:]

    scheduler.set_timesteps = set_timesteps


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


class Chaos:
    """``--chaos``: seeded noise on the prompt embeddings the denoiser receives (the text and, where the
    family has them, the pooled embeddings), ``chaos/100`` of each embedding's standard deviation. The
    prompt is encoded once; each tile's noise comes from its own seed, so a tile alone equals the same tile
    of the grid. With classifier-free guidance only the conditional half of the batch is changed."""

    def __init__(self, chaos: int, seeds: tuple[int, ...]) -> None:
        self.scale = chaos / 100
        self.seeds = seeds
        self.batch: list[int] = []
        self.applied = 0
        self._noise: dict[tuple[int, str, tuple[int, ...]], torch.Tensor] = {}

    def _noisy(self, name: str, values: torch.Tensor) -> torch.Tensor:
        count = len(self.batch)
        if values.shape[0] % count:
            raise EngineFailure()
        out = values.clone()
        for k, tile in enumerate(self.batch):
            row = values.shape[0] - count + k  # conditional rows come last
            key = (self.seeds[tile], name, tuple(values.shape[1:]))
            if key not in self._noise:
                generator = torch.Generator("cpu").manual_seed(self.seeds[tile] + params.CHAOS_SEED_OFFSET)
                self._noise[key] = torch.randn(key[2], generator=generator)
            noise = self._noise[key].to(values.device, values.dtype)
            out[row] = values[row] + noise * self.scale * values[row].float().std().to(values.dtype)
        return out

    def hook(self, _module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        states = kwargs.get("encoder_hidden_states")
        if isinstance(states, torch.Tensor):
            kwargs["encoder_hidden_states"] = self._noisy("text", states)
            self.applied += 1
        pooled = kwargs.get("pooled_projections")
        if isinstance(pooled, torch.Tensor):
            kwargs["pooled_projections"] = self._noisy("pooled", pooled)
        added = kwargs.get("added_cond_kwargs")
        if isinstance(added, dict) and isinstance(added.get("text_embeds"), torch.Tensor):
            kwargs["added_cond_kwargs"] = {
                **added,
                "text_embeds": self._noisy("pooled", added["text_embeds"]),
            }
        return args, kwargs


def _denoiser(pipe: Any) -> Any:
    return getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)


def _run_batched(
    pipe: Any,
    model: LoadedModel,
    kwargs_for: KwargsFor,
    count: int,
    control: JobControl,
    *,
    tile: bool,
    chaos: Chaos | None = None,
    trim: float | None = None,
) -> list[Image.Image]:
    """One batched call; on a GPU out-of-memory error, free memory and retry once one tile at a time."""
    call = _Call(pipe, model, control, tile=tile, chaos=chaos, trim=trim)
    try:
        return call(kwargs_for, list(range(count)), part=(0, 1))
    except Exception as error:
        if model.device.type == "cpu" or count == 1 or not is_out_of_memory(error):
            raise
        log.warning("out of memory at batch %d on %s; retrying one tile at a time", count, model.device)
    free_memory(model.device)
    images: list[Image.Image] = []
    for k in range(count):
        images += call(kwargs_for, [k], part=(k, count))
    return images


@dataclass(slots=True)
class _Call:
    """One pipeline call with a fresh scheduler whose ``step`` reports progress, renders previews and stops
    on cancel — the one hook every family's denoising loop goes through, with or without
    ``callback_on_step_end``."""

    pipe: Any
    model: LoadedModel
    control: JobControl
    tile: bool
    chaos: Chaos | None
    trim: float | None
    previews_off: bool = False

    def __call__(
        self, kwargs_for: KwargsFor, batch: list[int], *, part: tuple[int, int]
    ) -> list[Image.Image]:
        control = self.control
        if control.cancelled():
            raise Cancelled()
        kwargs = kwargs_for(batch)
        scheduler = self.model.fresh_scheduler()
        if self.trim is not None:
            _trimmed(scheduler, self.trim)
        self._watch(scheduler, kwargs, part)
        # Set directly: DiffusionPipeline.__setattr__ would re-register the identical config entry.
        object.__setattr__(self.pipe, "scheduler", scheduler)
        hooks = []
        if self.chaos is not None:
            self.chaos.batch = batch
            self.chaos.applied = 0
            hooks.append(_denoiser(self.pipe).register_forward_pre_hook(self.chaos.hook, with_kwargs=True))
        try:
            seamless_modules = [_denoiser(self.pipe), getattr(self.pipe, "vae", None)]
            with seamless(seamless_modules, enabled=self.tile):
                output = self.pipe(**kwargs, output_type="pil")
        finally:
            for handle in hooks:
                handle.remove()
        if self.chaos is not None and not self.chaos.applied:
            log.error("--chaos reached no prompt embeddings in %s", type(self.pipe).__name__)
            raise EngineFailure()
        return list(output.images)

    def _watch(self, scheduler: Any, kwargs: dict[str, Any], part: tuple[int, int]) -> None:
        original = scheduler.step
        index, parts = part
        done = 0
        control = self.control

        @functools.wraps(original)  # pipelines read its signature (to pass ``generator``, ``eta``)
        def step(*args: Any, **step_kwargs: Any) -> Any:
            nonlocal done
            out = original(*args, **step_kwargs)
            if control.cancelled():
                raise Cancelled()
            done += 1
            total = max(done, int(getattr(self.pipe, "_num_timesteps", 0) or len(scheduler.timesteps)))
            preview = None
            if control.preview_every and done % control.preview_every == 0 and done < total:
                latents = out[0] if isinstance(out, tuple) else out.prev_sample
                preview = self._preview(latents, scheduler, kwargs)
            control.report(index * total + done, parts * total, preview)
            return out

        scheduler.step = step

    def _preview(self, latents: torch.Tensor, scheduler: Any, kwargs: dict[str, Any]) -> bytes | None:
        """A preview, or ``None``; a failing preview turns previews off for this job (one log line)."""
        if self.previews_off:
            return None
        try:
            if self.model.description.family.packed:
                latents = unpack_latents(
                    latents, kwargs["height"], kwargs["width"], self.model.description.vae_factor
                )
            decoder = self.control.decoder
            if decoder is not None and decoder.config.latent_channels == latents.shape[1]:
                return decoded_preview(decoder, latents)
            previewer = self.model.previewer
            if previewer is None:
                self.previews_off = True
                return None
            return previewer.render(latents, sigma=current_sigma(scheduler))
        except Exception as error:
            self.previews_off = True
            log.warning("previews stopped for this job (model %s): %s", self.model.spec.name, error)
            return None


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
