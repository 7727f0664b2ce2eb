"""The four prompt buttons under a ``/describe`` answer: ``ib1:dp:<describe job>:<n>`` starts ``/imagine``
with prompt *n* (read from the database, so the buttons work after a restart)."""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import discord

from bot.replies import reply

log = logging.getLogger(__name__)

PROMPT_TEMPLATE: Final = r"ib1:dp:(?P<job>[0-9]{1,19}):(?P<number>[1-4])"
COG_NAME = "Describe"


def prompt_id(job_id: int, number: int) -> str:
    return f"ib1:dp:{job_id}:{number}"


class PromptButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PROMPT_TEMPLATE):
    def __init__(self, job_id: int, number: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=str(number), custom_id=prompt_id(job_id, number), style=discord.ButtonStyle.secondary
            )
        )
        self.job_id, self.number = job_id, number

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PromptButton:
        return cls(int(match["job"]), int(match["number"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            cog: Any = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
            if cog is None:
                await reply(interaction, "The bot is starting or stopping; try again in a minute.")
                return
            await cog.imagine_prompt(interaction, self.job_id, self.number)
        except Exception:
            log.exception("describe button %s failed (interaction %s)", self.custom_id, interaction.id)
            await reply(
                interaction, "That button failed on our side; it has been logged. Nothing was charged."
            )


def prompts(job_id: int, count: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for number in range(1, count + 1):
        view.add_item(PromptButton(job_id, number))
    return view
