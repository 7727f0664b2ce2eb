"""A small discord.py bot for the sandbox tests: /draw defers, posts a PNG with two buttons as a follow-up,
then edits it; /quota set checks Manage Server in code."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator

import discord
from discord import app_commands
from discord.ext import commands
from PIL import Image

from bot.sandbox.fake_discord import FakeDiscord


def png(width: int, height: int, color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


class Again(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"again:(?P<n>\d+)"):
    """A restart-proof button: answers with an ephemeral note to whoever clicked."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=f"Again {n}", custom_id=f"again:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> Again:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"again {self.n} for {interaction.user.name}", ephemeral=True)


class Done(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"done:(?P<n>\d+)"):
    """Edits its own message in place (callback type 7)."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label="Done", custom_id=f"done:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> Done:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"finished by {interaction.user.name}", view=None)


class DrawBot(commands.Bot):
    """A small bot: /draw defers, posts a PNG with buttons as a follow-up, then edits it; /quota set checks
    Manage Server in code."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
        self.guild_id = guild_id
        self.synced: list[app_commands.AppCommand] = []
        self.ready_event = asyncio.Event()
        self.draw_delay = 0.0
        self.followup_errors: list[discord.HTTPException] = []
        self.ignored: list[int] = []

        @app_commands.command(name="draw", description="Draw a picture")
        @app_commands.describe(prompt="What to draw")
        async def draw(
            interaction: discord.Interaction, prompt: str, size: app_commands.Range[int, 8, 64] = 16
        ) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(self.draw_delay)
            view = discord.ui.View(timeout=None)
            view.add_item(Again(1))
            view.add_item(Done(1))
            file = discord.File(io.BytesIO(png(size, size, "red")), filename="picture.png")
            try:
                await interaction.followup.send(f"**{prompt}** (50%)", file=file, view=view, wait=True)
                await interaction.edit_original_response(content=f"**{prompt}** - {interaction.user.mention}")
            except discord.HTTPException as exc:
                self.followup_errors.append(exc)
                await interaction.channel.send(f"**{prompt}** - {interaction.user.mention} (late)")  # type: ignore[union-attr]

        @app_commands.command(name="silent", description="Never answers (as a crashed bot would not)")
        async def silent(interaction: discord.Interaction) -> None:
            self.ignored.append(interaction.id)

        quota = app_commands.Group(name="quota", description="Credits")

        @quota.command(name="set", description="Set a member's credits")
        async def quota_set(interaction: discord.Interaction, user: discord.Member, amount: int) -> None:
            if not interaction.permissions.manage_guild:
                await interaction.response.send_message("You need Manage Server.", ephemeral=True)
                return
            await interaction.response.send_message(f"{user.name} now has {amount} credits", ephemeral=True)

        self.tree.add_command(draw)
        self.tree.add_command(silent)
        self.tree.add_command(quota)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(Again, Done)
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        self.synced = await self.tree.sync(guild=guild)

    async def on_ready(self) -> None:
        self.ready_event.set()


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, guild_id: int) -> AsyncIterator[DrawBot]:
    """Run a DrawBot against `fake` until the block ends."""
    bot = DrawBot(guild_id)
    task = asyncio.create_task(bot.start(fake.token))
    try:
        await asyncio.wait_for(bot.ready_event.wait(), 20)
        yield bot
    finally:
        await bot.close()
        await asyncio.wait_for(task, 10)
