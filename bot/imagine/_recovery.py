"""Start-up recovery: jobs left ``queued`` or ``running`` by the last process are run again or ended.

Their interaction tokens are gone with the old process, so each resumed job posts a new channel message with
the bot token (replying to the job's old message when it had one). A job that cannot be resumed (its source
image is gone, or the queue refuses it) is failed — which refunds it — and the user is told in the channel.
"""

from __future__ import annotations

import logging

import discord

from bot.imagine import _text
from bot.imagine._runner import SOURCE_MISSING, JobContext, JobRunner
from bot.queue import QueueRefused
from bot.replies import StatusMessage

log = logging.getLogger(__name__)


async def resume_unfinished(runner: JobRunner, client: discord.Client) -> tuple[int, int]:
    """Requeue or fail every unfinished job; returns ``(resumed, failed)``."""
    resumed = failed = 0
    for job in await runner.store.unfinished_jobs():
        if job.id in runner.active:
            continue
        if job.status == "running":
            await runner.store.requeue(job.id)
        status = StatusMessage(client, job.channel_id, reply_to=job.message_id, owner_id=job.user_id)
        ctx = JobContext(job=job, status=status)
        if job.kind in ("variation", "upscale"):
            source = None
            if job.parent_job_id is not None and job.parent_tile is not None:
                source = await runner.store.get_image(job.parent_job_id, job.parent_tile)
            if source is None:
                await _give_up(runner, ctx, SOURCE_MISSING)
                failed += 1
                continue
            ctx.source_path = source.path
        try:
            slot = runner.queue.reserve(job.user_id, guild_id=job.guild_id, force=True)
        except QueueRefused as error:
            await _give_up(runner, ctx, str(error))
            failed += 1
            continue
        await runner.submit(slot, ctx, resumed=True)
        resumed += 1
    if resumed or failed:
        log.info("start-up recovery: %d job(s) resumed, %d failed and refunded", resumed, failed)
    return resumed, failed


async def _give_up(runner: JobRunner, ctx: JobContext, reason: str) -> None:
    if await runner.store.mark_failed(ctx.job.id, reason):
        await ctx.status.finish(_text.failed(ctx.head, reason))
