"""Job rows ↔ engine requests. A job's ``params`` are the request's own JSON form (``to_json``), so a job can
run again after a restart; grid parameters ride along on variation/upscale jobs for display and re-rolls."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.api import (
    GenerateRequest,
    InpaintRequest,
    OutpaintRequest,
    Request,
    Strength,
    UpscaleMode,
    UpscaleRequest,
    VariationRequest,
    random_seed,
)
from engine.prompt import format_prompt

UPSCALE_SCALE = 2
# Job kinds that start from a stored tile (their row's parent_job_id/parent_tile name it).
FROM_SOURCE = ("variation", "upscale", "zoom", "pan", "square", "region")
# Grids re-rolled by running the same kind again on the same source.
EDIT_GRIDS = ("variation", "zoom", "pan", "square", "region")
_TOOL_KEYS = ("strength", "scale", "mode", "zoom", "direction", "regions")


def new_seed() -> int:
    return random_seed()


def generate_params(request: GenerateRequest) -> dict[str, Any]:
    """JSON-safe parameters of a grid job."""
    return request.to_json()


def generate_request(params: dict[str, Any]) -> GenerateRequest:
    return GenerateRequest.from_json(params)


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
    return format_prompt(GenerateRequest.from_json({**params, "tile_indices": [1, 2, 3, 4]}))


def remix_text(params: dict[str, Any]) -> str:
    """A job's prompt to edit in a Remix box: the display prompt without its seed (a new one is drawn)."""
    request = dataclasses.replace(generate_request(params), seed=0)
    return format_prompt(request).removesuffix(" --seed 0")


def build_request(kind: str, params: dict[str, Any], source: bytes | None) -> Request:
    """The engine request for a job; ``source`` is the tile a variation or upscale starts from (an empty
    placeholder is fine for the accept-time check, which never reads it)."""
    if kind in ("imagine", "reroll"):
        return GenerateRequest.from_json(params)
    if source is None:
        raise ValueError(f"a {kind} job needs a source image")
    if kind == "variation":
        return VariationRequest.from_json(params, source)
    if kind == "upscale":
        return UpscaleRequest.from_json({"scale": UPSCALE_SCALE, **params}, source)
    if kind in ("zoom", "pan", "square"):
        return OutpaintRequest.from_json({**params, "mode": kind}, source)
    if kind == "region":
        return InpaintRequest.from_json(params, source)
    raise ValueError(f"unknown job kind {kind!r}")


def describe(request: Request) -> dict[str, Any]:
    """A loggable summary of a request (no image bytes)."""
    return request.to_json()
