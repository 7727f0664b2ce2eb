"""``/prefer suffix`` (text appended to every prompt) and ``/prefer option set|unset|list`` (``--name`` in a
prompt expands to a saved set of words and parameters), as Midjourney has them. Each is checked by parsing a
prompt that uses it, so a broken suffix or option is refused when it is saved, not on every later prompt."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.db.preferences import MAX_OPTIONS, PreferenceStore
from bot.imagine._text import echo
from bot.prompting import OPTION_NAME, PARAMETER_ALIASES, expand_options, with_suffix
from bot.replies import reply
from engine.errors import InvalidRequest
from engine.permute import expand_prompt
from engine.prompt import MAX_PROMPT_CHARS, parse_prompt

SAMPLE = "a test prompt"
MAX_VALUE = 300


def _check(text: str) -> str | None:
    """Why ``text`` (a whole prompt) does not parse, or ``None``."""
    try:
        for prompt in expand_prompt(text):
            parse_prompt(prompt)
    except InvalidRequest as error:
        return str(error)
    return None


class PreferCog(commands.GroupCog, group_name="prefer", group_description="Your prompt shortcuts"):
    option = app_commands.Group(name="option", description="Named shortcuts: --name expands to a value")

    def __init__(self, preferences: PreferenceStore) -> None:
        super().__init__()
        self.preferences = preferences

    @app_commands.command(
        name="suffix", description="Text added to the end of every prompt (empty: remove it)"
    )
    @app_commands.describe(text="e.g. `on a gray background --stylize 250`; leave out to remove your suffix")
    async def suffix(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, MAX_VALUE] | None = None
    ) -> None:
        cleaned = " ".join((text or "").split())
        if cleaned:
            options = await self.preferences.options(interaction.guild_id, interaction.user.id)
            problem = _check(with_suffix(SAMPLE, expand_options(cleaned, options)))
            if problem:
                await reply(interaction, f"That suffix would break every prompt: {problem}")
                return
        await self.preferences.set(interaction.guild_id, interaction.user.id, suffix=cleaned or None)
        if cleaned:
            await reply(interaction, f"Your suffix is now {echo(cleaned)}; it is added to every new prompt.")
        else:
            await reply(interaction, "Your suffix is removed.")

    @option.command(name="set", description="Save --name as a shortcut for a value")
    @app_commands.describe(
        name="The shortcut's name (letters, digits, _)", value="e.g. `--ar 3:2 --stylize 500`"
    )
    async def option_set(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 32],
        value: app_commands.Range[str, 1, MAX_VALUE],
    ) -> None:
        key = name.strip().lstrip("-").lower()
        if not OPTION_NAME.fullmatch(key):
            await reply(
                interaction,
                "An option name takes letters, digits and `_` (at most 32), starting with a letter.",
            )
            return
        if key in PARAMETER_ALIASES:
            await reply(interaction, f"`--{key}` is a built-in parameter; choose another name.")
            return
        cleaned = " ".join(value.split())
        options = await self.preferences.options(interaction.guild_id, interaction.user.id)
        expanded = expand_options(f"{SAMPLE} {cleaned}", {**options, key: cleaned})
        if len(expanded) > MAX_PROMPT_CHARS or f"--{key}" in expanded.split():
            await reply(interaction, f"`--{key}` would expand without end; it cannot use itself.")
            return
        problem = _check(expanded)
        if problem:
            await reply(interaction, f"`--{key}` would not work: {problem}")
            return
        if not await self.preferences.set_option(interaction.guild_id, interaction.user.id, key, cleaned):
            await reply(interaction, f"You already have {MAX_OPTIONS} options; remove one first.")
            return
        await reply(interaction, f"`--{key}` now means {echo(cleaned)}.")

    @option.command(name="unset", description="Remove a shortcut")
    async def option_unset(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 32]
    ) -> None:
        key = name.strip().lstrip("-").lower()
        if await self.preferences.set_option(interaction.guild_id, interaction.user.id, key, None):
            await reply(interaction, f"`--{key}` is removed.")
        else:
            await reply(interaction, f"You have no option `--{key}`.")

    @option.command(name="list", description="Your shortcuts and your suffix")
    async def option_list(self, interaction: discord.Interaction) -> None:
        options = await self.preferences.options(interaction.guild_id, interaction.user.id)
        own = await self.preferences.own(interaction.guild_id, interaction.user.id)
        lines = [f"`--{name}` → {echo(value)}" for name, value in options.items()] or ["No options yet."]
        lines.append(f"Suffix: {echo(own.suffix)}" if own.suffix else "No suffix.")
        await reply(interaction, "\n".join(lines))
