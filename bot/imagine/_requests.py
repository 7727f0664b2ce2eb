"""Job rows ↔ engine requests. A job's ``params`` are the request's own JSON form (``to_json``), so a job can
run again after a restart; grid parameters ride along on variation/upscale jobs for display and re-rolls."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.api import GenerateRequest, Request, Strength, UpscaleRequest, VariationRequest, random_seed
from engine.prompt import format_prompt

UPSCALE_SCALE = 2


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


def upscale_params(base: dict[str, Any], *, seed: int) -> dict[str, Any]:
    params = {key: value for key, value in base.items() if key != "strength"}
    return {**params, "seed": seed, "scale": UPSCALE_SCALE}


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
    raise ValueError(f"unknown job kind {kind!r}")


def describe(request: Request) -> dict[str, Any]:
    """A loggable summary of a request (no image bytes)."""
    return request.to_json()
