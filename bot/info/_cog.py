"""``/info``: your unfinished jobs in this server (or DMs) and their place in the queue, your credits and
costs, the model (by a name safe to show: never a folder path). Always private (deferred ephemeral)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.db import JobRecord, JobStore, QuotaService, QuotaStatus
from bot.imagine._text import echo
from bot.members import role_ids
from bot.queue import RUNNING, JobQueue
from bot.replies import reply
from engine.api import Engine
from engine.names import display_name

log = logging.getLogger(__name__)


def _relative(moment: datetime) -> str:
    return f"<t:{int(moment.timestamp())}:R>"


def describe_jobs(jobs: Sequence[JobRecord], queue: JobQueue) -> list[str]:
    if not jobs:
        return ["**Your jobs:** none queued or running."]
    lines = ["**Your jobs:**"]
    for job in jobs:
        position = queue.position(job.id)
        if position == RUNNING:
            where = "running"
        elif position is not None:
            where = f"queued, number {position}"
        else:
            where = job.status
        prompt = job.prompt if len(job.prompt) <= 80 else job.prompt[:79] + "…"
        lines.append(f"- #{job.id} {job.kind} ({where}): {echo(prompt)}")
    return lines


def describe_quota(status: QuotaStatus) -> list[str]:
    if status.blocked:
        return ["**Credits:** you are blocked from creating images here."]
    if status.remaining is None:
        credits = "**Credits:** unlimited"
    else:
        credits = f"**Credits:** {status.remaining} left"
        if status.granted:
            credits += f" ({status.granted} granted)"
        if status.allowance is not None and status.period != "none":
            credits += f"; allowance {status.allowance} {status.period}"
        if status.next_refill is not None:
            credits += f", next refill {_relative(status.next_refill)}"
    costs = ", ".join(f"{action} {cost}" for action, cost in status.costs.items())
    lines = [credits, f"**Costs:** {costs}"]
    if status.max_active is not None:
        lines.append(f"**Job limit:** {status.max_active} queued or running")
    return lines


def describe_workers(engine: Engine, queue: JobQueue) -> str:
    """``busy of total`` image workers: a worker pool reports its own (``workers()``, e.g. Ray replicas);
    the in-process engine is one worker, busy while a job runs."""
    workers = getattr(engine, "workers", None)
    if callable(workers):
        busy, total = workers()
    else:
        busy, total = len(queue.running_job_ids), queue.capacity
    return f"**Workers:** {busy} busy of {total}"


class InfoCog(commands.Cog, name="Info"):
    def __init__(self, *, store: JobStore, quota: QuotaService, queue: JobQueue, engine: Engine) -> None:
        self.store = store
        self.quota = quota
        self.queue = queue
        self.engine = engine

    @app_commands.command(name="info", description="Your jobs here, your credits and the current model")
    async def info(self, interaction: discord.Interaction) -> None:
        # Private from the start: the answer lists prompts and credits, and only the caller may see it.
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except discord.HTTPException as error:
            log.warning(
                "interaction %s: /info could not be acknowledged (HTTP %s)", interaction.id, error.status
            )
        user = interaction.user
        here = interaction.guild_id
        jobs = [job for job in await self.store.user_active_jobs(user.id) if job.guild_id == here]
        status = await self.quota.status(here, user.id, role_ids(user, here))
        lines = [
            *describe_jobs(jobs, self.queue),
            *describe_quota(status),
            f"**Model:** {echo(display_name(self.engine.default_model))}",
            f"**Queue:** {self.queue.waiting} waiting",
            describe_workers(self.engine, self.queue),
        ]
        await reply(interaction, "\n".join(lines))
