"""What the tools under an upscaled image do: each press becomes a job like any other (queued fairly, charged
at the action's cost, refunded on failure) that starts from the grid tile the upscale was made from.

Refusals that can be decided before charging (an image already square, a pan beyond the aspect limit, a zoom
factor out of range) are answered privately and charge nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.db import ImageRecord, JobRecord
from bot.imagine import _requests
from bot.replies import reply
from engine.api import MAX_ZOOM, MIN_ZOOM, REGION_CELLS, UpscaleMode
from engine.prompt import MAX_ASPECT

if TYPE_CHECKING:
    from bot.imagine._cog import ImagineCog

log = logging.getLogger(__name__)

NOT_AVAILABLE = "That image is no longer available."
NOTHING_CHARGED = "Nothing was charged."


async def _source(
    cog: ImagineCog, interaction: discord.Interaction, job_id: int
) -> tuple[JobRecord, JobRecord, ImageRecord] | None:
    """The upscale ``job_id``, the grid job it came from and that grid's tile (the tools' source)."""
    upscaled = await cog.store.get_job(job_id)
    if upscaled is None or upscaled.parent_job_id is None or upscaled.parent_tile is None:
        await reply(interaction, NOT_AVAILABLE)
        return None
    found = await cog._finished_tile(interaction, upscaled.parent_job_id, upscaled.parent_tile)
    if found is None:
        return None
    parent, image = found
    return upscaled, parent, image


def refusal(kind: str, width: int, height: int, extra: dict[str, Any]) -> str | None:
    """Why ``kind`` cannot run on a ``width``×``height`` tile, decided before charging (``None``: it can)."""
    if kind == "square" and width == height:
        return "The image is already square."
    if kind == "pan":
        horizontal = extra["direction"] in ("left", "right")
        new_w, new_h = (width * 1.5, height) if horizontal else (width, height * 1.5)
        ratio = max(new_w / new_h, new_h / new_w)
        if ratio > MAX_ASPECT + 1e-9:
            return (
                f"Panning {extra['direction']} would make the image {ratio:.2g}:1, beyond the "
                f"{MAX_ASPECT:g}:1 aspect limit."
            )
    return None


async def _defer(interaction: discord.Interaction) -> None:
    if not interaction.response.is_done():
        await interaction.response.defer()


async def run_tool(
    cog: ImagineCog,
    interaction: discord.Interaction,
    job_id: int,
    kind: str,
    *,
    prompt: str | None = None,
    **extra: Any,
) -> None:
    """Zoom Out / Pan / Make Square / Vary (Region) on the tile under upscale ``job_id``."""
    if await cog._refuse_dm(interaction):
        return
    await _defer(interaction)
    found = await _source(cog, interaction, job_id)
    if found is None:
        return
    upscaled, parent, image = found
    why = refusal(kind, image.width, image.height, extra)
    if why is not None:
        await reply(interaction, f"{why} {NOTHING_CHARGED}")
        return
    params = _requests.tool_params(upscaled.params, seed=_requests.new_seed(), prompt=prompt, **extra)
    await cog._accept(
        interaction,
        kind=kind,
        params=params,
        public=False,
        parent_job_id=parent.id,
        parent_tile=image.tile,
        source_path=image.path,
    )


async def upscale(cog: ImagineCog, interaction: discord.Interaction, job_id: int, mode: UpscaleMode) -> None:
    """Upscale (Subtle|Creative): the tile under upscale ``job_id`` made 2× larger in that mode."""
    if await cog._refuse_dm(interaction):
        return
    await _defer(interaction)
    found = await _source(cog, interaction, job_id)
    if found is None:
        return
    upscaled, parent, image = found
    await cog._accept(
        interaction,
        kind="upscale",
        params=_requests.upscale_params(upscaled.params, seed=image.seed, mode=mode),
        public=False,
        parent_job_id=parent.id,
        parent_tile=image.tile,
        source_path=image.path,
    )


def parse_zoom(text: str) -> float | None:
    try:
        factor = float(text.strip().lower().removesuffix("x").replace(",", "."))
    except ValueError:
        return None
    return factor if MIN_ZOOM <= factor <= MAX_ZOOM else None


async def custom_zoom(
    cog: ImagineCog, interaction: discord.Interaction, job_id: int, prompt: str, factor_text: str
) -> None:
    factor = parse_zoom(factor_text)
    if factor is None:
        await reply(
            interaction,
            f"The zoom factor must be a number from {MIN_ZOOM:g} to {MAX_ZOOM:g}; got `{factor_text[:20]}`. "
            f"{NOTHING_CHARGED}",
        )
        return
    await run_tool(cog, interaction, job_id, "zoom", prompt=prompt.strip() or None, zoom=factor)


async def vary_region(
    cog: ImagineCog, interaction: discord.Interaction, job_id: int, values: list[str], prompt: str
) -> None:
    cells = sorted({int(value) for value in values if value.isdigit() and 1 <= int(value) <= REGION_CELLS})
    if not 1 <= len(cells) < REGION_CELLS:
        await reply(interaction, f"Choose from one to eight regions. {NOTHING_CHARGED}")
        return
    await run_tool(cog, interaction, job_id, "region", prompt=prompt.strip() or None, regions=cells)
