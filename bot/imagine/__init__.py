"""``/imagine``: Midjourney-style prompts, live progress, grids with U1–U4 / V1–V4 / 🔄 buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.imagine._cog import ImagineCog
from bot.imagine._runner import JobRunner
from bot.imagine._tools import DYNAMIC_ITEMS as TOOL_ITEMS
from bot.imagine._views import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from discord.ext import commands

    from bot.config import Settings
    from bot.db import JobStore
    from bot.queue import JobQueue
    from engine.api import Engine

__all__ = ["ImagineCog", "setup"]


async def setup(
    bot: commands.Bot, *, store: JobStore, engine: Engine, queue: JobQueue, settings: Settings
) -> ImagineCog:
    """Register the buttons and add the cog (which runs the jobs) to ``bot``."""
    bot.add_dynamic_items(*DYNAMIC_ITEMS, *TOOL_ITEMS)
    runner = JobRunner(store=store, engine=engine, queue=queue, settings=settings)
    cog = ImagineCog(runner, settings.max_jobs_per_user, max_prompts=settings.max_prompts_per_command)
    await bot.add_cog(cog)
    return cog
