"""``/settings``: per-user defaults for new ``/imagine`` prompts, one click each; ``/settings server:True``
lets members with Manage Server set the server's defaults (checked in code on every click, from the
interaction's own permissions)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.db.preferences import SERVER, PreferenceStore
from bot.replies import reply
from bot.settings import _views
from engine.api import Engine

NOT_ADMIN = "Only members with Manage Server can change this server's defaults."
DMS = "Server defaults exist only in a server."


def is_admin(interaction: discord.Interaction) -> bool:
    permissions = interaction.permissions
    return bool(permissions.manage_guild or permissions.administrator)


class SettingsCog(commands.Cog, name=_views.COG_NAME):
    def __init__(self, preferences: PreferenceStore, engine: Engine) -> None:
        self.preferences = preferences
        self.engine = engine

    @app_commands.command(name="settings", description="Your defaults for new images (Remix, aspect, …)")
    @app_commands.describe(server="Change this server's defaults instead (Manage Server)")
    async def settings(self, interaction: discord.Interaction, server: bool = False) -> None:
        scope = "s" if server else "u"
        refusal = self._refusal(interaction, scope)
        if refusal:
            await reply(interaction, refusal)
            return
        content, view = await self._render(interaction, scope)
        await reply(interaction, content, view=view)

    def _refusal(self, interaction: discord.Interaction, scope: str) -> str | None:
        if scope != "s":
            return None
        if interaction.guild_id is None:
            return DMS
        return None if is_admin(interaction) else NOT_ADMIN

    def _models(self) -> list[str]:
        return [info.name for info in self.engine.models()][: _views.MAX_SELECT_OPTIONS - 1]

    async def _render(self, interaction: discord.Interaction, scope: str) -> tuple[str, discord.ui.View]:
        user_id = SERVER if scope == "s" else interaction.user.id
        own = await self.preferences.own(interaction.guild_id, user_id)
        effective = await self.preferences.effective(interaction.guild_id, interaction.user.id)
        return _views.summary(scope, own, effective), _views.panel(scope, own, self._models())

    async def change(self, interaction: discord.Interaction, scope: str, field: str, value: str) -> None:
        """One click on the panel: check, store, show the panel again."""
        refusal = self._refusal(interaction, scope)
        if refusal:
            await reply(interaction, refusal)
            return
        user_id = SERVER if scope == "s" else interaction.user.id
        guild_id = interaction.guild_id
        changes = await self._changes(interaction, guild_id, user_id, field, value)
        if changes is None:
            await reply(interaction, f"`{value}` is not a choice for {field}.")
            return
        if field == "reset":
            await self.preferences.reset(guild_id, user_id)
        else:
            await self.preferences.set(guild_id, user_id, **changes)
        content, view = await self._render(interaction, scope)
        await interaction.response.edit_message(content=content, view=view)

    async def _changes(
        self, interaction: discord.Interaction, guild_id: int | None, user_id: int, field: str, value: str
    ) -> dict[str, Any] | None:
        unset = value == _views.UNSET
        if field == "reset":
            return {}
        if field == "remix":
            own = await self.preferences.own(guild_id, user_id)
            return {"remix": not own.remix}
        if field == "private" and user_id != SERVER:
            own = await self.preferences.own(guild_id, user_id)
            return {"private": not own.private}
        if field == "private_allowed" and user_id == SERVER:
            own = await self.preferences.own(guild_id, user_id)
            return {"private_allowed": own.private_allowed is False}
        if field == "model":
            return {"model": None} if unset else ({"model": value} if value in self._models() else None)
        if field == "aspect":
            return {"aspect": None if unset else value} if unset or value in _views.ASPECTS else None
        number = _number(value)
        if field == "stylize":
            return {"stylize": None if unset else int(number)} if unset or number in _views.STYLIZE else None
        if field == "chaos":
            return {"chaos": None if unset else int(number)} if unset or number in _views.CHAOS else None
        if field == "quality":
            return {"quality": number} if number in _views.QUALITY else None
        return None


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return -1.0
