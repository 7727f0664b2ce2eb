"""Button callbacks: an exception inside one is caught, answered and logged (it would never reach
``tree.on_error``), and each button parses its own custom_id."""

from __future__ import annotations

import re
from unittest.mock import AsyncMock, MagicMock, create_autospec

import discord
import pytest
from discord.ext import commands

from bot.imagine import _views


def _interaction(cog: object) -> MagicMock:
    interaction = create_autospec(discord.Interaction, instance=True)
    interaction.client = create_autospec(commands.Bot, instance=True)
    interaction.client.get_cog.return_value = cog
    interaction.response = create_autospec(discord.InteractionResponse, instance=True)
    interaction.response.is_done.return_value = False
    interaction.id = 4242
    return interaction


async def test_an_exception_in_a_button_is_answered_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    cog = MagicMock()
    cog.upscale = AsyncMock(side_effect=RuntimeError("database on fire"))
    interaction = _interaction(cog)
    await _views.UpscaleButton(7, 3).callback(interaction)
    cog.upscale.assert_awaited_once_with(interaction, 7, 3)
    interaction.response.send_message.assert_awaited_once()
    sent = interaction.response.send_message.await_args.kwargs
    assert sent["content"] == _views.BUTTON_FAILED and sent["ephemeral"] is True
    assert "database on fire" not in sent["content"]
    assert "button ib1:u:7:3 failed" in caplog.text and "database on fire" in caplog.text


async def test_a_button_pressed_while_the_bot_starts_gets_an_answer() -> None:
    interaction = _interaction(None)
    await _views.RerollButton(5).callback(interaction)
    assert "starting or stopping" in interaction.response.send_message.await_args.kwargs["content"]


@pytest.mark.parametrize(
    ("item", "method", "args"),
    [
        (_views.UpscaleButton(11, 2), "upscale", (11, 2)),
        (_views.VariationButton(11, 4), "vary_tile", (11, 4, "strong")),
        (_views.RerollButton(11), "reroll", (11,)),
        (_views.VaryButton(11, "subtle"), "vary_upscale", (11, "subtle")),
        (_views.CancelButton(11), "cancel_button", (11,)),
    ],
)
async def test_each_button_rebuilds_itself_from_its_custom_id_and_calls_the_cog(
    item: discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], method: str, args: tuple[object, ...]
) -> None:
    match = re.fullmatch(item.template, item.custom_id)
    assert match is not None
    cog = MagicMock()
    setattr(cog, method, AsyncMock())
    interaction = _interaction(cog)
    rebuilt = await type(item).from_custom_id(interaction, item.item, match)
    assert rebuilt.custom_id == item.custom_id
    await rebuilt.callback(interaction)
    getattr(cog, method).assert_awaited_once_with(interaction, *args)


def test_the_grid_has_two_rows_of_buttons() -> None:
    view = _views.grid(3)
    rows: dict[int, list[str]] = {}
    for child in view.children:
        assert isinstance(child, discord.ui.DynamicItem)
        rows.setdefault(child.row or 0, []).append(child.item.label or "")
    assert rows == {0: ["U1", "U2", "U3", "U4", "🔄"], 1: ["V1", "V2", "V3", "V4"]}
    under_upscale: dict[int, list[str]] = {}
    for child in _views.upscale(3, square=False).children:
        assert isinstance(child, discord.ui.DynamicItem)
        button = child.item
        under_upscale.setdefault(child.row or 0, []).append(button.label or str(button.emoji))
    assert under_upscale == {
        0: ["Upscale (Subtle)", "Upscale (Creative)"],
        1: ["Vary (Subtle)", "Vary (Strong)", "Vary (Region)"],
        2: ["Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom", "Make Square"],
        3: ["⬅️", "➡️", "⬆️", "⬇️"],
    }
    assert "Make Square" not in [c.item.label for c in _views.upscale(3, square=True).children]  # type: ignore[attr-defined]
    plain = [c.item.label for c in _views.upscale(3, edits=False).children]  # type: ignore[attr-defined]
    assert plain == ["Upscale (Subtle)", "Upscale (Creative)", "Vary (Subtle)", "Vary (Strong)"]


def test_a_model_without_image_to_image_gets_no_upscale_or_variation_buttons() -> None:
    labels = [c.item.label for c in _views.grid(3, img2img=False).children]  # type: ignore[attr-defined]
    assert labels == ["🔄"]
    # Upscale (Subtle) is a resize (no model pass): it stays; Creative and Vary need image-to-image.
    plain = [c.item.label for c in _views.upscale(3, img2img=False, edits=False).children]  # type: ignore[attr-defined]
    assert plain == ["Upscale (Subtle)"]
