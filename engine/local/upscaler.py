"""A dedicated upscaler pipeline (``ENGINE_UPSCALER``), used for upscales instead of an image-to-image pass.

Supported: diffusers' ``StableDiffusionUpscalePipeline`` (×4, such as
``stabilityai/stable-diffusion-x4-upscaler``) and ``StableDiffusionLatentUpscalePipeline`` (×2,
``stabilityai/sd-x2-latent-upscaler``). The tile is first
resized so that the upscaler's fixed factor lands exactly on the requested size (a ×2 upscale through the ×4
upscaler starts from the tile at half size), which keeps its cost bounded; the result is resized only when
rounding to the upscaler's size grid left it off by a few pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from engine.errors import Cancelled, UnknownModel
from engine.local.registry import ModelSpec
from engine.names import display_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpscalerKind:
    factor: int
    steps: int
    guidance: float
    extra: tuple[tuple[str, Any], ...] = ()


KINDS: dict[str, UpscalerKind] = {
    "StableDiffusionUpscalePipeline": UpscalerKind(
        factor=4, steps=20, guidance=9.0, extra=(("noise_level", 20),)
    ),
    "StableDiffusionLatentUpscalePipeline": UpscalerKind(factor=2, steps=20, guidance=0.0),
}


@dataclass(slots=True)
class LoadedUpscaler:
    spec: ModelSpec
    pipe: Any
    kind: UpscalerKind


def load_upscaler(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> LoadedUpscaler:
    """Load the pipeline named by ``ENGINE_UPSCALER``; :class:`UnknownModel` names that setting on failure."""
    from diffusers import DiffusionPipeline

    try:
        pipe: Any = DiffusionPipeline.from_pretrained(
            spec.source, dtype=dtype, local_files_only=spec.local, low_cpu_mem_usage=False
        )
    except Exception as error:
        log.warning("could not load upscaler %s: %s", spec.source, error)
        where = "its folder" if spec.local else "the hub (offline?)"
        raise UnknownModel(
            f"The upscaler `{display_name(spec.name)}` could not be loaded from {where}; "
            "check ENGINE_UPSCALER."
        ) from None
    kind = KINDS.get(type(pipe).__name__)
    if kind is None:
        supported = ", ".join(KINDS)
        raise UnknownModel(
            f"ENGINE_UPSCALER names a {type(pipe).__name__}; supported upscalers: {supported}."
        )
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    log.info("loaded upscaler %s (%s, ×%d)", spec.name, type(pipe).__name__, kind.factor)
    return LoadedUpscaler(spec=spec, pipe=pipe, kind=kind)


def input_size(target: tuple[int, int], factor: int, multiple: int = 8) -> tuple[int, int]:
    """The size to feed an upscaler of ``factor`` so its output is ``target`` (rounded to ``multiple``)."""
    width, height = target
    return (
        max(multiple, round(width / factor / multiple) * multiple),
        max(multiple, round(height / factor / multiple) * multiple),
    )


def run_upscaler(
    upscaler: LoadedUpscaler,
    source: Image.Image,
    target: tuple[int, int],
    *,
    prompt: str,
    negative_prompt: str,
    seed: int,
    steps: int | None,
    guidance: float | None,
    cancelled: Any,
    report: Any,
) -> tuple[Image.Image, int, float]:
    """Upscale ``source`` to ``target``; returns the image, the steps and the guidance used. ``report(step,
    total)`` is called after every step; ``cancelled()`` is checked there (raising :class:`Cancelled`)."""
    kind = upscaler.kind
    steps = steps or kind.steps
    guidance = kind.guidance if guidance is None else guidance
    small = source.resize(input_size(target, kind.factor), Image.Resampling.LANCZOS)

    def on_step(step: int, _timestep: Any, _latents: Any) -> None:
        if cancelled():
            raise Cancelled()
        report(step + 1, steps)

    if cancelled():
        raise Cancelled()
    output = upscaler.pipe(
        prompt=prompt,
        negative_prompt=negative_prompt or None,
        image=small,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(int(seed)),
        callback=on_step,
        callback_steps=1,
        output_type="pil",
        **dict(kind.extra),
    )
    image: Image.Image = output.images[0]
    if image.size != target:
        image = image.resize(target, Image.Resampling.LANCZOS)
    return image, steps, guidance
