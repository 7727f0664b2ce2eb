"""Honest hints: a prompt the model has no word for is held, not charged, until its author presses
**Draw it anyway** (a restart-safe button carrying the held prompt's id)."""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import discord

from bot.imagine._views import COG_NAME
from bot.prompts._tools import PromptTools
from bot.replies import reply

log = logging.getLogger(__name__)

CONFIRM_TEMPLATE: Final = r"ib1:ok:(?P<pending>[0-9]{1,19})"
CONFIRM_LABEL = "Draw it anyway"
GONE = "That prompt is no longer waiting (it was started already, or it is not yours)."


def confirm_id(pending_id: int) -> str:
    return f"ib1:ok:{pending_id}"


class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CONFIRM_TEMPLATE):
    def __init__(self, pending_id: int, label: str = CONFIRM_LABEL) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, custom_id=confirm_id(pending_id), style=discord.ButtonStyle.primary
            )
        )
        self.pending_id = pending_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConfirmButton:
        return cls(int(match["pending"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            cog: Any = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
            tools: PromptTools | None = getattr(cog, "tools", None)
            if cog is None or tools is None:
                await reply(interaction, "The bot is starting or stopping; try again in a minute.")
                return
            prompt = await tools.preferences.release(
                self.pending_id, interaction.guild_id, interaction.user.id
            )
            if prompt is None:
                await reply(interaction, GONE)
                return
            await cog.start(interaction, prompt, confirmed=True)
        except Exception:
            log.exception("confirm button %s failed (interaction %s)", self.custom_id, interaction.id)
            await reply(
                interaction, "That button failed on our side; it has been logged. Nothing was charged."
            )


async def hold_for_confirmation(
    interaction: discord.Interaction,
    tools: PromptTools,
    prompt: str,
    hint: str,
    *,
    label: str = CONFIRM_LABEL,
) -> None:
    """Keep ``prompt`` and answer with ``hint`` and the confirm button; nothing is charged."""
    pending_id = await tools.preferences.hold(interaction.guild_id, interaction.user.id, prompt)
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmButton(pending_id, label))
    await reply(interaction, f"{hint} Nothing was charged yet.", view=view)
