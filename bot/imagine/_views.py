"""The buttons, as ``DynamicItem``s: their ``custom_id`` carries all their state, so they outlive restarts.

Callbacks hand over to the Imagine cog (looked up on the client at press time). discord.py only logs
exceptions raised in a DynamicItem callback (they never reach ``tree.on_error``), so :func:`_guarded`
catches them, answers the user and logs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.imagine import _ids
from bot.replies import reply

if TYPE_CHECKING:
    from bot.imagine._cog import ImagineCog

log = logging.getLogger(__name__)

COG_NAME = "Imagine"
BUTTON_FAILED = "That button failed on our side; it has been logged. Nothing was charged."


async def _guarded(
    interaction: discord.Interaction, what: str, action: Callable[[ImagineCog], Awaitable[None]]
) -> None:
    try:
        cog: Any = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
        if cog is None:
            await reply(interaction, "The bot is starting or stopping; try again in a minute.")
            return
        await action(cog)
    except Exception:
        log.exception("button %s failed (interaction %s)", what, interaction.id)
        await reply(interaction, BUTTON_FAILED)


def _button(label: str, custom_id: str, *, row: int, style: discord.ButtonStyle) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label, custom_id=custom_id, row=row, style=style)


class UpscaleButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.UPSCALE_TEMPLATE):
    def __init__(self, job_id: int, tile: int) -> None:
        super().__init__(
            _button(f"U{tile}", _ids.upscale_id(job_id, tile), row=0, style=discord.ButtonStyle.secondary)
        )
        self.job_id, self.tile = job_id, tile

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> UpscaleButton:
        return cls(int(match["job"]), int(match["tile"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(
            interaction, self.custom_id, lambda cog: cog.upscale(interaction, self.job_id, self.tile)
        )


class VariationButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.VARIATION_TEMPLATE):
    def __init__(self, job_id: int, tile: int) -> None:
        super().__init__(
            _button(f"V{tile}", _ids.variation_id(job_id, tile), row=1, style=discord.ButtonStyle.secondary)
        )
        self.job_id, self.tile = job_id, tile

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VariationButton:
        return cls(int(match["job"]), int(match["tile"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(
            interaction,
            self.custom_id,
            lambda cog: cog.vary_tile(interaction, self.job_id, self.tile, "strong"),
        )


class RerollButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.REROLL_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(_button("🔄", _ids.reroll_id(job_id), row=0, style=discord.ButtonStyle.secondary))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RerollButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self.custom_id, lambda cog: cog.reroll(interaction, self.job_id))


class VaryButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.VARY_TEMPLATE):
    """``Vary (Subtle)`` / ``Vary (Strong)`` under an upscaled image."""

    def __init__(self, job_id: int, strength: _ids.Strength) -> None:
        label = f"Vary ({strength.title()})"
        super().__init__(
            _button(label, _ids.vary_id(job_id, strength), row=0, style=discord.ButtonStyle.primary)
        )
        self.job_id, self.strength = job_id, strength

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VaryButton:
        strength: _ids.Strength = "subtle" if match["strength"] == "subtle" else "strong"
        return cls(int(match["job"]), strength)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(
            interaction, self.custom_id, lambda cog: cog.vary_upscale(interaction, self.job_id, self.strength)
        )


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.CANCEL_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(_button("Cancel", _ids.cancel_id(job_id), row=0, style=discord.ButtonStyle.danger))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self.custom_id, lambda cog: cog.cancel_button(interaction, self.job_id))


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    UpscaleButton,
    VariationButton,
    RerollButton,
    VaryButton,
    CancelButton,
)


def _view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def grid(job_id: int, *, tiles: int = 4, img2img: bool = True) -> discord.ui.View:
    """``U1 U2 U3 U4 🔄`` over ``V1 V2 V3 V4``; only ``🔄`` for a model without image-to-image (its
    upscales and variations would be refused)."""
    numbers = range(1, min(tiles, 4) + 1) if img2img else range(0)
    return _view(
        *(UpscaleButton(job_id, n) for n in numbers),
        RerollButton(job_id),
        *(VariationButton(job_id, n) for n in numbers),
    )


def upscale(job_id: int, *, img2img: bool = True, square: bool = True, edits: bool = True) -> discord.ui.View:
    """The tools under an upscaled image (see :mod:`bot.imagine._tools`)."""
    from bot.imagine._tools import upscale_items

    return _view(*upscale_items(job_id, square=square, img2img=img2img, edits=edits))


def cancel(job_id: int) -> discord.ui.View:
    return _view(CancelButton(job_id))
