"""``/imagine``: Midjourney-style prompts, live progress, grids with U1–U4 / V1–V4 / 🔄 buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.imagine._cog import ImagineCog
from bot.imagine._recovery import resume_unfinished
from bot.imagine._runner import JobRunner
from bot.imagine._views import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from discord.ext import commands

__all__ = ["DYNAMIC_ITEMS", "ImagineCog", "JobRunner", "resume_unfinished", "setup"]


async def setup(bot: commands.Bot, runner: JobRunner, *, max_jobs_per_user: int) -> ImagineCog:
    """Register the buttons and the cog on ``bot``."""
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    cog = ImagineCog(runner, max_jobs_per_user)
    await bot.add_cog(cog)
    return cog
