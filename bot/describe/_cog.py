"""``/describe image:<attachment>`` and the **Describe** entry on a message's Apps menu: four candidate
prompts for an image, most likely first, as buttons that start ``/imagine`` with that prompt.

It costs like an action (``/quota cost describe``): the job row reserves the cost before anything runs, and a
failure refunds it. The image is scored on the engine's worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.db import JobStore, QuotaRefused
from bot.db.preferences import PreferenceStore
from bot.describe import _views
from bot.imagine._cog import in_tenant
from bot.imagine._text import echo
from bot.imagine._views import COG_NAME as IMAGINE_COG
from bot.members import role_ids
from bot.replies import reply
from engine.api import DescribeRequest, Engine
from engine.errors import EngineError

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
NOT_AN_IMAGE = "Describe takes a PNG, JPEG or WebP image. Nothing was charged."
TOO_LARGE = f"That image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB. Nothing was charged."
NO_IMAGE = "That message has no image to describe. Nothing was charged."
A_GRID = (
    "That is a grid of four images: upscale one (U1–U4) and describe the upscale, or upload it with "
    "`/describe`. Nothing was charged."
)
DOWNLOAD_FAILED = "The image could not be downloaded from Discord"
FAILED = "Describing failed on our side; it has been logged"
NOT_AVAILABLE = "That description is no longer available."
CANCELLED = "This describe was cancelled. Nothing was charged."
ACK_BUDGET_S = 2.0


def _image_of(message: discord.Message) -> discord.Attachment | str:
    """The image a context-menu Describe means, or why there is none."""
    if any(
        getattr(child, "custom_id", "") and str(getattr(child, "custom_id", "")).startswith("ib1:u:")
        for row in message.components
        for child in getattr(row, "children", [])
    ):
        return A_GRID
    for attachment in message.attachments:
        if (attachment.content_type or "").split(";")[0] in IMAGE_TYPES:
            return attachment
    return NO_IMAGE


def answer(user_id: int, prompts: tuple[str, ...]) -> str:
    lines = [f"**Describe** - <@{user_id}>"]
    lines += [f"**{number}.** {echo(prompt)}" for number, prompt in enumerate(prompts, start=1)]
    return "\n".join(lines)


class DescribeCog(commands.Cog, name=_views.COG_NAME):
    def __init__(
        self,
        *,
        store: JobStore,
        preferences: PreferenceStore,
        engine: Engine,
        max_jobs_per_user: int,
        tree: app_commands.CommandTree[Any],
        allow_dms: bool = False,
    ) -> None:
        self.allow_dms = allow_dms
        self.store = store
        self.preferences = preferences
        self.engine = engine
        self.max_jobs_per_user = max_jobs_per_user
        self.tree = tree
        self.menu = app_commands.ContextMenu(name="Describe", callback=self.describe_message)

    async def cog_load(self) -> None:
        self.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="describe", description="Four prompts that could have made an image")
    @app_commands.describe(image="A PNG, JPEG or WebP image")
    async def describe(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        await self._describe(interaction, image)

    async def describe_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        found = _image_of(message)
        if isinstance(found, str):
            await reply(interaction, found)
            return
        await self._describe(interaction, found)

    async def _describe(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        if (image.content_type or "").split(";")[0] not in IMAGE_TYPES:
            await reply(interaction, NOT_AN_IMAGE)
            return
        if image.size > MAX_IMAGE_BYTES:
            await reply(interaction, TOO_LARGE)
            return
        if interaction.channel_id is None or (interaction.guild_id is None and not self.allow_dms):
            await reply(interaction, "Use me in a server.")
            return
        user = interaction.user
        try:
            job = await self.store.create_job(
                kind="describe",
                user_id=user.id,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                role_ids=role_ids(user, interaction.guild_id),
                prompt=f"describe {image.filename}",
                params={"filename": image.filename},
                model=self.engine.default_model,
                max_active=self.max_jobs_per_user,
            )
        except QuotaRefused as error:
            await reply(interaction, str(error))
            return
        started = time.perf_counter()
        work = asyncio.ensure_future(self._work(job.id, image))
        done, _ = await asyncio.wait({work}, timeout=max(0.1, ACK_BUDGET_S - (time.perf_counter() - started)))
        if done:  # answered within Discord's 3 s: a refusal stays private, prompts are public
            outcome = work.result()
            if isinstance(outcome, str):
                await reply(interaction, outcome)
                return
            await reply(interaction, outcome[0], ephemeral=False, view=outcome[1])
            await self.store.mark_posted(job.id, None)
            return
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException:
            log.warning("interaction %s: acknowledging the describe failed", interaction.id)
        outcome = await work
        if isinstance(outcome, str):
            await self._finish(interaction, outcome)
        else:
            await self._finish(interaction, *outcome)
            await self.store.mark_posted(job.id, None)  # the charge is kept once the answer is out

    async def _work(self, job_id: int, image: discord.Attachment) -> tuple[str, discord.ui.View] | str:
        """Download, describe and record; the answer and its buttons, or why it failed (refunded)."""
        if not await self.store.mark_running(job_id):
            return CANCELLED
        try:
            data = await image.read()
        except discord.HTTPException:
            return await self._fail(job_id, DOWNLOAD_FAILED)
        try:
            description = await self.engine.describe(DescribeRequest(image=data), job_id=f"describe-{job_id}")
        except EngineError as error:
            return await self._fail(job_id, str(error).rstrip("."))
        except Exception:
            log.exception("describe job %s failed", job_id)
            return await self._fail(job_id, FAILED)
        await self.preferences.save_description(job_id, description.prompts)
        job = await self.store.get_job(job_id)
        if job is None or not await self.store.mark_succeeded(
            job_id, images=[], grid_path=None, seeds=[], model=None
        ):
            return CANCELLED
        log.info("describe job %s: %d prompts by %s", job_id, len(description.prompts), description.describer)
        return answer(job.user_id, description.prompts), _views.prompts(job_id, len(description.prompts))

    async def _fail(self, job_id: int, reason: str) -> str:
        await self.store.mark_failed(job_id, reason)
        return f"{reason}. Nothing was charged."

    async def _finish(
        self, interaction: discord.Interaction, text: str, view: discord.ui.View | None = None
    ) -> None:
        if view is not None:
            view.stop()  # DynamicItems are dispatched by custom_id; nothing to keep in memory
        try:
            await interaction.edit_original_response(content=text, view=view)
        except discord.HTTPException:
            log.warning("interaction %s: the describe answer could not be shown", interaction.id)
            await reply(interaction, text, ephemeral=False, view=view)

    # -- the prompt buttons ---------------------------------------------------------------------------------

    async def imagine_prompt(self, interaction: discord.Interaction, job_id: int, number: int) -> None:
        """Button *number* under a description: ``/imagine`` that prompt (with Remix on: edit it first)."""
        job = await self.store.get_job(job_id)
        if job is None or not in_tenant(interaction, job):  # another server's description is not shown here
            await reply(interaction, NOT_AVAILABLE)
            return
        prompt = await self.preferences.description(job_id, number)
        imagine: Any = interaction.client.get_cog(IMAGINE_COG)  # type: ignore[attr-defined]
        if prompt is None or imagine is None:
            await reply(interaction, NOT_AVAILABLE)
            return
        tools = imagine.tools
        if tools is not None and await tools.remix(interaction.guild_id, interaction.user.id):
            from bot.prompts import open_remix

            await open_remix(interaction, "d", job_id, number, prompt)
            return
        await imagine.start(interaction, prompt)
