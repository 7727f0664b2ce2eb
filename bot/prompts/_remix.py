"""Remix: with Remix on (``/settings``), V1–V4, Vary (Subtle/Strong), 🔄 and a ``/describe`` prompt open a box
with the prompt to edit before the job starts.

The modal's ``custom_id`` carries what to do (``ib1:rm:<action>:<job>:<arg>``) and the submit is handled by a
listener, not by a modal object kept in memory, so a box opened before a restart still works after it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import discord
from discord.ext import commands

from bot.imagine._views import COG_NAME
from bot.replies import reply
from engine.api import Strength
from engine.prompt import MAX_PROMPT_CHARS

log = logging.getLogger(__name__)

REMIX_TEMPLATE: Final = r"ib1:rm:(?P<action>vsu|vst|usu|ust|r|d):(?P<job>[0-9]{1,19}):(?P<arg>[0-9]{1,2})"
PROMPT_FIELD: Final = "prompt"
REMIX_FAILED = "Remix failed on our side; it has been logged. Nothing was charged."
_STRENGTHS: dict[str, Strength] = {"su": "subtle", "st": "strong"}


def remix_id(action: str, job_id: int, arg: int) -> str:
    custom_id = f"ib1:rm:{action}:{job_id}:{arg}"
    if not re.fullmatch(REMIX_TEMPLATE, custom_id):
        raise ValueError(f"not a remix id: {custom_id!r}")
    return custom_id


async def open_remix(interaction: discord.Interaction, action: str, job_id: int, arg: int, text: str) -> None:
    """Answer ``interaction`` with the Remix box, ``text`` filled in."""
    modal: discord.ui.Modal = discord.ui.Modal(title="Remix", custom_id=remix_id(action, job_id, arg))
    modal.add_item(
        discord.ui.TextInput(
            label="Prompt",
            custom_id=PROMPT_FIELD,
            style=discord.TextStyle.paragraph,
            default=text[:MAX_PROMPT_CHARS],
            max_length=MAX_PROMPT_CHARS,
        )
    )
    modal.stop()  # not kept in memory: RemixListener handles the submit by its custom_id
    await interaction.response.send_modal(modal)


def submitted_text(data: dict[str, Any]) -> str:
    for row in data.get("components", []):
        for child in row.get("components", []):
            if child.get("custom_id") == PROMPT_FIELD:
                return str(child.get("value") or "")
    return ""


class RemixListener(commands.Cog):
    """Starts the job a Remix box was opened for, with the edited prompt."""

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Any = interaction.data or {}
        match = re.fullmatch(REMIX_TEMPLATE, str(data.get("custom_id", "")))
        if match is None:
            return
        try:
            await self._submit(interaction, match, submitted_text(data).strip())
        except Exception:
            log.exception("remix %s failed (interaction %s)", match[0], interaction.id)
            await reply(interaction, REMIX_FAILED)

    async def _submit(self, interaction: discord.Interaction, match: re.Match[str], text: str) -> None:
        cog: Any = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
        if cog is None:
            await reply(interaction, "The bot is starting or stopping; try again in a minute.")
            return
        if not text:
            await reply(interaction, "The prompt is empty. Nothing was charged.")
            return
        action, job_id, arg = match["action"], int(match["job"]), int(match["arg"])
        if action in ("vsu", "vst"):
            await cog.vary_tile(interaction, job_id, arg, _STRENGTHS[action[1:]], prompt=text)
        elif action in ("usu", "ust"):
            await cog.vary_upscale(interaction, job_id, _STRENGTHS[action[1:]], prompt=text)
        elif action == "r":
            await cog.reroll(interaction, job_id, prompt=text)
        else:
            await cog.start(interaction, text)
