"""The tools under an upscaled image, laid out as Midjourney does::

    [Upscale (Subtle)] [Upscale (Creative)]
    [Vary (Subtle)] [Vary (Strong)] [Vary (Region)]
    [Zoom Out 2x] [Zoom Out 1.5x] [Custom Zoom] [Make Square]    (Make Square only under a non-square image)
    [⬅️] [➡️] [⬆️] [⬇️]

Every button is a ``DynamicItem`` whose ``custom_id`` (see :mod:`bot.imagine._ids`) carries its state, so it
works after a restart. Custom Zoom opens a modal (prompt + factor); Vary (Region) a modal with a
multi-select of the 3×3 regions and the prompt to draw there.
The jobs are made by :mod:`bot.imagine._edits`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.imagine import _edits, _ids
from bot.imagine._views import VaryButton, _button, _guarded
from engine.api import MAX_ZOOM, MIN_ZOOM, Engine
from engine.prompt import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from bot.imagine._cog import ImagineCog

_ARROWS: dict[_ids.Direction, str] = {"left": "⬅️", "right": "➡️", "up": "⬆️", "down": "⬇️"}
REGION_LABELS = (
    "1 · top left",
    "2 · top",
    "3 · top right",
    "4 · left",
    "5 · centre",
    "6 · right",
    "7 · bottom left",
    "8 · bottom",
    "9 · bottom right",
)
GREY = discord.ButtonStyle.secondary
MODAL_TIMEOUT_S = 15 * 60  # an open modal is forgotten with its interaction token


class UpscaleModeButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.UPSCALE_MODE_TEMPLATE):
    def __init__(self, job_id: int, mode: _ids.UpscaleMode) -> None:
        label = f"Upscale ({mode.title()})"
        super().__init__(_button(label, _ids.upscale_mode_id(job_id, mode), row=0, style=GREY))
        self.job_id, self.mode = job_id, mode

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> UpscaleModeButton:
        return cls(int(match["job"]), "subtle" if match["mode"] == "subtle" else "creative")

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(
            interaction, self.custom_id, lambda cog: _edits.upscale(cog, interaction, self.job_id, self.mode)
        )


class ZoomButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.ZOOM_TEMPLATE):
    def __init__(self, job_id: int, factor: str) -> None:
        super().__init__(_button(f"Zoom Out {factor}x", _ids.zoom_id(job_id, factor), row=2, style=GREY))
        self.job_id, self.factor = job_id, factor

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ZoomButton:
        return cls(int(match["job"]), match["factor"])

    async def callback(self, interaction: discord.Interaction) -> None:
        factor = _ids.ZOOMS[self.factor]
        await _guarded(
            interaction,
            self.custom_id,
            lambda cog: _edits.run_tool(cog, interaction, self.job_id, "zoom", zoom=factor),
        )


class CustomZoomButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.CUSTOM_ZOOM_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(_button("Custom Zoom", _ids.custom_zoom_id(job_id), row=2, style=GREY))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CustomZoomButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(
            interaction, self.custom_id, lambda cog: open_custom_zoom(cog, interaction, self.job_id)
        )


class SquareButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.SQUARE_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(_button("Make Square", _ids.square_id(job_id), row=2, style=GREY))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SquareButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(
            interaction, self.custom_id, lambda cog: _edits.run_tool(cog, interaction, self.job_id, "square")
        )


class PanButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.PAN_TEMPLATE):
    def __init__(self, job_id: int, direction: _ids.Direction) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            emoji=_ARROWS[direction], custom_id=_ids.pan_id(job_id, direction), row=3, style=GREY
        )
        super().__init__(button)
        self.job_id, self.direction = job_id, direction

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PanButton:
        return cls(int(match["job"]), _ids.DIRECTIONS[match["direction"]])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(
            interaction,
            self.custom_id,
            lambda cog: _edits.run_tool(cog, interaction, self.job_id, "pan", direction=self.direction),
        )


class RegionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_ids.REGION_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            _button("Vary (Region)", _ids.region_id(job_id), row=1, style=discord.ButtonStyle.primary)
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RegionButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self.custom_id, lambda cog: open_region(cog, interaction, self.job_id))


class CustomZoomModal(discord.ui.Modal):
    """The zoom factor (1.0–2.0), and with Remix on the prompt to edit, before zooming out."""

    def __init__(self, job_id: int, prompt: str, *, remix: bool = True) -> None:
        custom_id = _ids.custom_zoom_modal_id(job_id)
        super().__init__(title="Zoom Out", custom_id=custom_id, timeout=MODAL_TIMEOUT_S)
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[Any] | None = None
        if remix:
            self.prompt = discord.ui.TextInput(
                label="Prompt",
                default=prompt[:MAX_PROMPT_CHARS],
                max_length=MAX_PROMPT_CHARS,
                style=discord.TextStyle.paragraph,
            )
            self.add_item(self.prompt)
        self.factor: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=f"Zoom factor ({MIN_ZOOM:g}–{MAX_ZOOM:g})", default="1.5", max_length=6
        )
        self.add_item(self.factor)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        prompt = self.prompt.value if self.prompt is not None else ""
        await _guarded(
            interaction,
            self.custom_id,
            lambda cog: _edits.custom_zoom(cog, interaction, self.job_id, prompt, self.factor.value),
        )


class RegionModal(discord.ui.Modal):
    """Vary (Region): which of the 3×3 regions to redraw (one to eight) and the prompt to draw there."""

    def __init__(self, job_id: int, prompt: str, *, remix: bool = True) -> None:
        custom_id = _ids.region_modal_id(job_id)
        super().__init__(title="Vary (Region)", custom_id=custom_id, timeout=MODAL_TIMEOUT_S)
        self.job_id = job_id
        self.cells: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="cells",
            placeholder="Regions to redraw",
            min_values=1,
            max_values=8,
            options=[
                discord.SelectOption(label=label, value=str(n)) for n, label in enumerate(REGION_LABELS, 1)
            ],
        )
        self.add_item(discord.ui.Label(text="Regions to redraw (3×3 grid)", component=self.cells))
        self.prompt: discord.ui.TextInput[Any] | None = None
        if remix:  # with Remix off only the regions are asked for (the image's prompt is kept)
            self.prompt = discord.ui.TextInput(
                custom_id="prompt",
                default=prompt[:MAX_PROMPT_CHARS],
                max_length=MAX_PROMPT_CHARS,
                style=discord.TextStyle.paragraph,
            )
            self.add_item(discord.ui.Label(text="Prompt for those regions", component=self.prompt))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        values = self.cells.values
        prompt = self.prompt.value if self.prompt is not None else ""
        await _guarded(
            interaction,
            self.custom_id,
            lambda cog: _edits.vary_region(cog, interaction, self.job_id, values, prompt),
        )


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    UpscaleModeButton,
    ZoomButton,
    CustomZoomButton,
    SquareButton,
    PanButton,
    RegionButton,
)


def can_edit(engine: Engine, model: str) -> bool:
    """Whether ``model`` can redraw part of an image (its capabilities' ``inpaint``; no for a model the
    engine does not list, whose edits would be refused anyway)."""
    return any(info.capabilities.inpaint for info in engine.models() if info.name == model)


def upscale_items(
    job_id: int, *, square: bool, img2img: bool = True, edits: bool = True
) -> list[discord.ui.Item[Any]]:
    """The buttons under an upscaled image: Upscale (Subtle) (a resize: every model), Upscale (Creative) and
    Vary (Subtle|Strong) for a model that takes image-to-image, the inpainting tools for one that can
    inpaint (``edits``)."""
    items: list[discord.ui.Item[Any]] = [UpscaleModeButton(job_id, "subtle")]
    if img2img:
        subtle, strong = VaryButton(job_id, "subtle"), VaryButton(job_id, "strong")
        subtle.row = strong.row = 1
        items += [UpscaleModeButton(job_id, "creative"), subtle, strong]
    if not edits:
        return items
    items += [
        RegionButton(job_id),
        ZoomButton(job_id, "2"),
        ZoomButton(job_id, "1.5"),
        CustomZoomButton(job_id),
    ]
    if not square:
        items.append(SquareButton(job_id))
    items += [PanButton(job_id, direction) for direction in _ARROWS]
    return items


async def open_region(cog: ImagineCog, interaction: discord.Interaction, job_id: int) -> None:
    if await cog._refuse_dm(interaction):
        return
    upscaled = await cog.store.get_job(job_id)
    if upscaled is None:
        await interaction.response.send_message(_edits.NOT_AVAILABLE, ephemeral=True)
        return
    prompt = str(upscaled.params.get("prompt", ""))
    await interaction.response.send_modal(RegionModal(job_id, prompt, remix=await _remix(cog, interaction)))


async def open_custom_zoom(cog: ImagineCog, interaction: discord.Interaction, job_id: int) -> None:
    if await cog._refuse_dm(interaction):
        return
    upscaled = await cog.store.get_job(job_id)
    if upscaled is None:
        await interaction.response.send_message(_edits.NOT_AVAILABLE, ephemeral=True)
        return
    prompt = str(upscaled.params.get("prompt", ""))
    await interaction.response.send_modal(
        CustomZoomModal(job_id, prompt, remix=await _remix(cog, interaction))
    )


async def _remix(cog: ImagineCog, interaction: discord.Interaction) -> bool:
    """The presser's Remix preference (/settings): the tools' forms ask for the prompt only with it on."""
    return cog.tools is not None and await cog.tools.remix(interaction.guild_id, interaction.user.id)
