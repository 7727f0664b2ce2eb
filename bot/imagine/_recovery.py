"""Start-up recovery: results left ready to post are posted, and jobs left ``queued`` or ``running`` by the
last process are run again or ended.

A ready result (recorded, not yet posted; see :mod:`bot.imagine._runner`) is never posted twice: if the last
process got it onto Discord before dying (a message of the bot's in the job's channel, since the job began,
carries its buttons), that message is recorded and nothing is sent. Otherwise it is posted from its stored
files without rendering it again: into the job's message when its id is known (an edit), else as a new one.

Their interaction tokens are gone with the old process, so each resumed job posts a new channel message with
the bot token (replying to the job's old message when it had one). A job that cannot be resumed (its source
image is gone, or the queue refuses it) is failed — which refunds it — and the user is told in the channel.

A private job (``params["private"]``) lived in an ephemeral message that only its interaction could reach: it
is failed and refunded, never resumed or posted publicly; its owner is told in a DM (:mod:`bot.imagine._dm`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import discord

from bot.db import JobRecord
from bot.imagine import _dm, _ids, _render, _text, _tools
from bot.imagine._requests import FROM_SOURCE
from bot.imagine._runner import SOURCE_MISSING, JobContext, JobRunner, result_view
from bot.queue import QueueRefused
from bot.replies import StatusMessage

log = logging.getLogger(__name__)

RESULT_MISSING = "The images of this job are no longer available; nothing was charged."
DESCRIBE_INTERRUPTED = "The bot restarted before the image was described; please try again"
PRIVATE_INTERRUPTED = "The bot restarted before your private result could be shown; nothing was charged"


def is_private(job: JobRecord) -> bool:
    return bool(job.params.get("private"))


async def resume_unfinished(runner: JobRunner, client: discord.Client) -> tuple[int, int]:
    """Post every ready result, then requeue or fail every unfinished job; returns ``(resumed, failed)``."""
    await post_ready(runner, client)
    resumed = failed = 0
    for job in await runner.store.unfinished_jobs():
        if job.id in runner.active:
            continue
        if job.status == "running":
            await runner.store.requeue(job.id)
        status = StatusMessage(
            client, job.channel_id, reply_to=job.message_id, owner_id=job.user_id, private=is_private(job)
        )
        ctx = JobContext(job=job, status=status)
        if job.kind == "describe" or is_private(job):  # tied to its interaction: ended, not resumed
            await _give_up(runner, ctx, PRIVATE_INTERRUPTED if is_private(job) else DESCRIBE_INTERRUPTED)
            failed += 1
            continue
        if job.kind in FROM_SOURCE:
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
        if ctx.status.private:  # its ephemeral message is out of reach: the owner is told in a DM
            await _dm.tell_owner(ctx.status.client, ctx.job, _dm.RESTARTED)


async def post_ready(runner: JobRunner, client: discord.Client) -> int:
    """Post the results the last process recorded but did not finish posting; returns how many were posted."""
    posted = 0
    for job in await runner.store.ready_to_post():
        if job.id in runner.active:
            continue
        try:
            if await _post_one(runner, client, job):
                posted += 1
        except Exception:
            log.exception("job %s: posting its recorded result failed; the next start tries again", job.id)
    if posted:
        log.info("start-up recovery: %d recorded result(s) posted", posted)
    return posted


async def _post_one(runner: JobRunner, client: discord.Client, job: JobRecord) -> bool:
    if job.kind == "describe" or is_private(job):  # its interaction is gone: refunded, not posted
        reason = PRIVATE_INTERRUPTED if is_private(job) else DESCRIBE_INTERRUPTED
        if await runner.store.mark_undeliverable(job.id, reason) and is_private(job):
            await _dm.tell_owner(client, job, _dm.RESTARTED)
        return False
    already = await find_posted(client, job)
    if already is not None:
        log.info("job %s: its result was already posted (message %s); recording it", job.id, already)
        await runner.store.mark_posted(job.id, already)
        return True
    images = await runner.store.get_images(job.id)
    status = StatusMessage(client, job.channel_id, message_id=job.message_id, owner_id=job.user_id)
    head = JobContext(job=job, status=status).head
    path = job.grid_path if job.grid_path is not None else (images[0].path if images else None)
    name = f"grid-{job.id}" if job.grid_path is not None else f"image-{job.id}"
    try:
        if path is None:
            raise FileNotFoundError(f"job {job.id} has no stored images")
        attachment = await asyncio.to_thread(
            _render.attachment_from_file, path, _render.DEFAULT_SIZE_LIMIT, name=name
        )
    except OSError:
        log.warning("job %s: its recorded images are gone; failing and refunding it", job.id)
        if await runner.store.mark_undeliverable(job.id, RESULT_MISSING):
            await status.finish(_text.failed(head, RESULT_MISSING))
        return False
    log.info("job %s: posting its recorded result (message %s)", job.id, job.message_id or "new")
    square = not images or images[0].width == images[0].height
    model = job.model or runner.engine.default_model
    edits = _tools.can_edit(runner.engine, model)
    img2img = runner.img2img(model)
    view = result_view(job, tiles=len(images), img2img=img2img, square=square, edits=edits)
    return await runner.post_result(job, status, attachment, view=view, head=head)


HISTORY_LIMIT = 100
"""How many of the channel's messages since the job began are searched for its result."""


async def find_posted(client: discord.Client, job: JobRecord) -> int | None:
    """The id of a message of the bot's showing ``job``'s result buttons, posted since the job began; ``None``
    if there is none or the channel's history cannot be read (then the result is posted as usual)."""
    if client.user is None:
        return None
    ids = set(_result_ids(job))
    channel = client.get_partial_messageable(job.channel_id)
    since = discord.Object(discord.utils.time_snowflake(job.created_at - timedelta(minutes=1)))
    try:
        async for message in channel.history(limit=HISTORY_LIMIT, after=since, oldest_first=True):
            if message.author.id == client.user.id and ids & set(_custom_ids(message)):
                return message.id
    except discord.HTTPException as error:
        log.warning("job %s: cannot read channel %s (HTTP %s)", job.id, job.channel_id, error.status)
    return None


def _result_ids(job: JobRecord) -> list[str]:
    if job.grid_path is not None:
        return [_ids.upscale_id(job.id, 1), _ids.reroll_id(job.id)]
    return [_ids.vary_id(job.id, "subtle")]


def _custom_ids(message: discord.Message) -> list[str]:
    found: list[str] = []
    for row in message.components:
        for child in getattr(row, "children", ()):
            custom_id = getattr(child, "custom_id", None)
            if custom_id:
                found.append(custom_id)
    return found
