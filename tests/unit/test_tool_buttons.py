"""The tool buttons under an upscale: versioned custom ids that rebuild the button after a restart and call
the right handler; refusals decided before anything is charged."""

from __future__ import annotations

import re
from typing import Any
from unittest.mock import AsyncMock, MagicMock, create_autospec, patch

import discord
import pytest
from discord.ext import commands

from bot.imagine import _edits, _ids, _tools


def _interaction(cog: object) -> MagicMock:
    interaction = create_autospec(discord.Interaction, instance=True)
    interaction.client = create_autospec(commands.Bot, instance=True)
    interaction.client.get_cog.return_value = cog
    interaction.response = create_autospec(discord.InteractionResponse, instance=True)
    interaction.response.is_done.return_value = False
    interaction.id = 77
    return interaction


@pytest.mark.parametrize(
    ("item", "custom_id", "handler", "args", "kwargs"),
    [
        (_tools.UpscaleModeButton(9, "subtle"), "ib1:um:9:subtle", "upscale", (9, "subtle"), {}),
        (_tools.UpscaleModeButton(9, "creative"), "ib1:um:9:creative", "upscale", (9, "creative"), {}),
        (_tools.ZoomButton(9, "2"), "ib1:z:9:2", "run_tool", (9, "zoom"), {"zoom": 2.0}),
        (_tools.ZoomButton(9, "1.5"), "ib1:z:9:1.5", "run_tool", (9, "zoom"), {"zoom": 1.5}),
        (_tools.PanButton(9, "left"), "ib1:p:9:l", "run_tool", (9, "pan"), {"direction": "left"}),
        (_tools.PanButton(9, "down"), "ib1:p:9:d", "run_tool", (9, "pan"), {"direction": "down"}),
        (_tools.SquareButton(9), "ib1:sq:9", "run_tool", (9, "square"), {}),
    ],
)
async def test_tool_buttons_rebuild_from_their_ids_and_make_jobs(
    item: Any, custom_id: str, handler: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert item.custom_id == custom_id and len(custom_id) <= _ids.MAX_CUSTOM_ID
    match = re.fullmatch(item.template, custom_id)
    assert match is not None
    cog = MagicMock()
    interaction = _interaction(cog)
    rebuilt = await type(item).from_custom_id(interaction, item.item, match)
    with patch.object(_edits, handler, AsyncMock()) as called:
        await rebuilt.callback(interaction)
    called.assert_awaited_once_with(cog, interaction, *args, **kwargs)


async def test_modal_buttons_open_modals_with_the_prompt_when_remix_is_on() -> None:
    cog = MagicMock()
    cog.store.get_job = AsyncMock(return_value=MagicMock(params={"prompt": "a red circle"}))
    cog._refuse_dm = AsyncMock(return_value=False)
    for remix in (True, False):  # the presser's Remix preference: the prompt field only with it on
        cog.tools.remix = AsyncMock(return_value=remix)
        for button, modal_type in (
            (_tools.CustomZoomButton(4), _tools.CustomZoomModal),
            (_tools.RegionButton(4), _tools.RegionModal),
        ):
            interaction = _interaction(cog)
            await button.callback(interaction)
            modal = interaction.response.send_modal.await_args.args[0]
            assert isinstance(modal, modal_type)
            if remix:
                assert modal.prompt is not None and modal.prompt.default == "a red circle"
            else:
                assert modal.prompt is None and len(modal.children) == 1
    assert len(_tools.RegionModal(4, "x").cells.options) == 9


@pytest.mark.parametrize(
    ("kind", "size", "extra", "expected"),
    [
        ("square", (64, 64), {}, "already square"),
        ("square", (96, 64), {}, None),
        ("pan", (128, 32), {"direction": "left"}, "6:1, beyond the 4:1 aspect limit"),
        ("pan", (128, 32), {"direction": "up"}, None),
        ("pan", (32, 128), {"direction": "down"}, "beyond"),
        ("zoom", (128, 32), {"zoom": 2.0}, None),
    ],
)
def test_refusals_before_charging(
    kind: str, size: tuple[int, int], extra: dict[str, Any], expected: str | None
) -> None:
    why = _edits.refusal(kind, *size, extra)
    assert (why is None) if expected is None else (why is not None and expected in why)


@pytest.mark.parametrize(
    ("text", "factor"), [("1.7", 1.7), ("2x", 2.0), ("1,25", 1.25), ("1", 1.0), ("2.5", None), ("zoom", None)]
)
def test_custom_zoom_factor_parsing(text: str, factor: float | None) -> None:
    assert _edits.parse_zoom(text) == factor
