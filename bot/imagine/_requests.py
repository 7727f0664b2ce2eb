"""Job rows ↔ engine requests. A job's ``params`` hold everything needed to run it again after a restart."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from engine.api import (
    MAX_SEED,
    GenerateRequest,
    InpaintRequest,
    OutpaintRequest,
    PanDirection,
    Request,
    Strength,
    UpscaleMode,
    UpscaleRequest,
    VariationRequest,
)
from engine.prompt import format_prompt

UPSCALE_SCALE = 2
# Job kinds that start from a stored tile (their row's parent_job_id/parent_tile name it).
FROM_SOURCE = ("variation", "upscale", "zoom", "pan", "square", "region")
# Grids re-rolled by running the same kind again on the same source.
EDIT_GRIDS = ("variation", "zoom", "pan", "square", "region")
_TOOL_KEYS = ("strength", "scale", "mode", "zoom", "direction", "regions")
_GENERATE_KEYS = ("prompt", "seed", "negative_prompt", "quality", "stylize", "chaos", "tile", "model")


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED - 3)


def generate_params(request: GenerateRequest) -> dict[str, Any]:
    """JSON-safe parameters of a grid job."""
    params: dict[str, Any] = {key: getattr(request, key) for key in _GENERATE_KEYS}
    params["aspect"] = list(request.aspect)
    return params


def generate_request(params: dict[str, Any]) -> GenerateRequest:
    aspect = params.get("aspect") or (1, 1)
    return GenerateRequest(
        prompt=str(params["prompt"]),
        seed=int(params["seed"]),
        negative_prompt=str(params.get("negative_prompt") or ""),
        aspect=(int(aspect[0]), int(aspect[1])),
        quality=float(params.get("quality", 1.0)),
        stylize=int(params.get("stylize", 100)),
        chaos=int(params.get("chaos", 0)),
        tile=bool(params.get("tile", False)),
        model=params.get("model"),
    )


def reroll_params(parent: dict[str, Any], seed: int) -> dict[str, Any]:
    """The parent's parameters with new seeds (a variation grid re-rolls as a variation)."""
    return {**parent, "seed": seed}


def variation_params(base: dict[str, Any], *, seed: int, strength: Strength) -> dict[str, Any]:
    return {**base, "seed": seed, "strength": strength}


def upscale_params(base: dict[str, Any], *, seed: int, mode: UpscaleMode = "standard") -> dict[str, Any]:
    params = {key: value for key, value in base.items() if key not in _TOOL_KEYS}
    extra = {"mode": mode} if mode != "standard" else {}
    return {**params, "seed": seed, "scale": UPSCALE_SCALE, **extra}


def tool_params(
    base: dict[str, Any], *, seed: int, prompt: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Parameters of a Zoom Out / Pan / Make Square / Vary (Region) job from those of the image it starts
    from: the same prompt (or ``prompt``, edited in a modal), new seeds, and the tool's own settings."""
    params = {key: value for key, value in base.items() if key not in _TOOL_KEYS}
    if prompt is not None:
        params["prompt"] = prompt
    return {**params, "seed": seed, **extra}


def display_prompt(params: dict[str, Any]) -> str:
    """The normalized prompt text shown to users, with this job's seed."""
    return format_prompt(generate_request(params))


def remix_text(params: dict[str, Any]) -> str:
    """A job's prompt to edit in a Remix box: the display prompt without its seed (a new one is drawn)."""
    request = dataclasses.replace(generate_request(params), seed=0)
    return format_prompt(request).removesuffix(" --seed 0")


def build_request(kind: str, params: dict[str, Any], source: bytes | None) -> Request:
    """The engine request for a job; ``source`` is the tile a variation or upscale starts from."""
    if kind in ("imagine", "reroll"):
        return generate_request(params)
    if source is None:
        raise ValueError(f"a {kind} job needs a source image")
    base = generate_request(params)
    if kind == "variation":
        strength: Strength = "subtle" if params.get("strength") == "subtle" else "strong"
        return VariationRequest(
            source=source,
            prompt=base.prompt,
            seed=base.seed,
            strength=strength,
            negative_prompt=base.negative_prompt,
            tile=base.tile,
            model=base.model,
        )
    if kind == "upscale":
        return UpscaleRequest(
            source=source,
            prompt=base.prompt,
            seed=base.seed,
            negative_prompt=base.negative_prompt,
            scale=int(params.get("scale", UPSCALE_SCALE)),
            tile=base.tile,
            model=base.model,
            mode=_upscale_mode(params.get("mode")),
        )
    common: dict[str, Any] = {
        "source": source,
        "prompt": base.prompt,
        "seed": base.seed,
        "negative_prompt": base.negative_prompt,
        "model": base.model,
    }
    if kind == "zoom":
        return OutpaintRequest(**common, mode="zoom", zoom=float(params.get("zoom", 2.0)))
    if kind == "pan":
        direction: PanDirection = params["direction"]
        return OutpaintRequest(**common, mode="pan", direction=direction)
    if kind == "square":
        return OutpaintRequest(**common, mode="square")
    if kind == "region":
        return InpaintRequest(**common, regions=tuple(int(cell) for cell in params["regions"]))
    raise ValueError(f"unknown job kind {kind!r}")


def _upscale_mode(value: Any) -> UpscaleMode:
    if value == "subtle":
        return "subtle"
    if value == "creative":
        return "creative"
    return "standard"


def describe(request: Request) -> dict[str, Any]:
    """A loggable summary of a request (no image bytes)."""
    return {
        field.name: getattr(request, field.name)
        for field in dataclasses.fields(request)
        if field.name != "source"
    }
