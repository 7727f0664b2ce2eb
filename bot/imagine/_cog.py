"""``/imagine``, ``/cancel`` and what the grid's buttons do.

Every path that creates a job goes through :meth:`ImagineCog._accept`: reserve queue room, then create the job
row (blocked user/words, job cap and the charge, in one transaction), then acknowledge, then queue it.
Refusals are ephemeral and charge nothing.

- ``/imagine`` decides before acknowledging, because the acknowledgement fixes the visibility: a refusal is an
  ephemeral response, an accepted job a public deferral whose message then shows its progress. If the DB check
  takes longer than :data:`ACK_BUDGET_S`, it defers publicly first to keep Discord's 3-second deadline.
- With private replies on (``/settings``, where the server allows them) the deferral is ephemeral and the job
  lives in that ephemeral message (``params["private"]``, inherited by every job made from its buttons, whose
  results are ephemeral follow-ups): see :class:`bot.replies.StatusMessage`.
- Buttons acknowledge at once with an invisible deferred update (the grid is never replaced), then decide;
  a refusal is an ephemeral follow-up and an accepted job a new channel message replying to the grid.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.db import ImageRecord, JobRecord, JobStore, QuotaRefused
from bot.imagine import _requests, _text
from bot.imagine._recovery import resume_unfinished
from bot.imagine._render import DEFAULT_SIZE_LIMIT
from bot.imagine._runner import JobContext, JobRunner
from bot.imagine._views import COG_NAME
from bot.members import role_ids
from bot.queue import QueueRefused
from bot.replies import StatusMessage, reply
from engine.api import Strength
from engine.errors import EngineError, InvalidRequest
from engine.multiprompt import check_weights
from engine.permute import DEFAULT_MAX_PROMPTS, expand_prompt
from engine.prompt import MAX_PROMPT_CHARS, ParsedPrompt, parse_prompt

if TYPE_CHECKING:
    from bot.prompts import PromptTools

log = logging.getLogger(__name__)

ACK_BUDGET_S = 2.0
NOT_AVAILABLE = "That image is no longer available."
NOT_FINISHED = "That job has not finished yet; try again when its images are posted."
ACK_FAILED = "Discord did not accept the acknowledgement in time."
REFUSED_PUBLICLY = "This request was not accepted; nothing was charged."
USE_A_SERVER = "Use me in a server: images cannot be made in direct messages here. Nothing was charged."


def no_such_job(job_id: int) -> str:
    """The one answer for a job that does not exist and for a job the caller may not cancel: the two must
    read the same, or job numbers would tell who is generating what in other servers."""
    return f"You have no job #{job_id} to cancel here."


NO_ACTIVE_JOBS = "You have no queued or running jobs here."


def may_cancel(interaction: discord.Interaction, job: JobRecord) -> bool:
    """The job's owner, or a member allowed to manage messages (or the server) *in the job's own server*,
    as the interaction resolves their permissions (channel overwrites included; never a cached member)."""
    if job.user_id == interaction.user.id:
        return True
    if job.guild_id is None or job.guild_id != interaction.guild_id:
        return False
    permissions = interaction.permissions
    return permissions.manage_messages or permissions.manage_guild or permissions.administrator


def in_tenant(interaction: discord.Interaction, job: JobRecord) -> bool:
    """Whether a button pressed here may use ``job``: a job of the server it is pressed in, and in direct
    messages only the presser's own. A ``custom_id`` naming another server's job (a crafted interaction)
    reads as not available: its prompt and images never cross into another server."""
    if job.guild_id != interaction.guild_id:
        return False
    return job.guild_id is not None or job.user_id == interaction.user.id


def latest_job(jobs: Sequence[JobRecord], guild_id: int | None) -> JobRecord | None:
    """The job ``/cancel`` means without a number: the caller's latest one started here (this server, or
    DMs when ``guild_id`` is ``None``). ``jobs`` are in creation order."""
    here = [job for job in jobs if job.guild_id == guild_id]
    return here[-1] if here else None


def _with_privacy(params: dict[str, Any], private: bool) -> dict[str, Any]:
    """``params`` marked private (a delivery setting kept with the job, not an engine parameter)."""
    return {**params, "private": True} if private else params


class ImagineCog(commands.Cog, name=COG_NAME):
    def __init__(
        self, runner: JobRunner, max_jobs_per_user: int, *, max_prompts: int = DEFAULT_MAX_PROMPTS
    ) -> None:
        self.runner = runner
        self.max_jobs_per_user = max_jobs_per_user
        self.max_prompts = max_prompts
        self.tools: PromptTools | None = None  # /settings, /prefer, Remix and hints, when set up

    @property
    def store(self) -> JobStore:
        return self.runner.store

    async def resume_unfinished(self, client: discord.Client) -> tuple[int, int]:
        """Start-up recovery: requeue or fail the jobs the last process left unfinished."""
        return await resume_unfinished(self.runner, client)

    async def close(self) -> None:
        """Let results being delivered arrive; stop status updates of waiting jobs."""
        await self.runner.close()

    # -- commands -----------------------------------------------------------------------------------------

    @app_commands.command(name="imagine", description="Create four images from a prompt")
    @app_commands.describe(
        prompt="What to draw; parameters: --ar 3:2 --seed 7 --no text --chaos 20 --stylize 300 "
        "--quality .5 --tile --model NAME"
    )
    async def imagine(
        self, interaction: discord.Interaction, prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS]
    ) -> None:
        await self.start(interaction, prompt)

    async def start(self, interaction: discord.Interaction, prompt: str, *, confirmed: bool = False) -> None:
        """A new grid from ``prompt`` as the user typed it (their preferences are applied here). Unless
        ``confirmed``, a prompt the model has no word for is held with a hint instead of being charged.
        Every way in (``/imagine``, a describe button, a Remix box, "Draw it anyway") is refused in DMs
        unless ``ALLOW_DMS``."""
        if await self._refuse_dm(interaction):
            return
        tools = self.tools
        text = prompt
        if tools is not None:
            text = await tools.compose(interaction.guild_id, interaction.user.id, prompt)
        try:
            prompts = expand_prompt(text, max_prompts=self.max_prompts)
            every = [parse_prompt(one) for one in prompts]
            for parsed in every:  # multi-prompt weights and what the model cannot take are refused here,
                check_weights(parsed.request.prompt, parsed.request.negative_prompt, parsed.request.chaos)
                self.runner.engine.check(parsed.request)  # before anything is charged
        except EngineError as error:
            await reply(interaction, f"{error} Nothing was charged.")
            return
        # Visibility is fixed by the acknowledgement, so it is decided here, before anything is deferred.
        private = tools is not None and await tools.private(interaction.guild_id, interaction.user.id)
        if len(every) > 1:
            await self._start_set(interaction, prompt, every, confirmed=confirmed, private=private)
            return
        parsed = every[0]
        if tools is not None and not confirmed:
            hint = await tools.hint(parsed.request.prompt, parsed.request.model)
            if hint is not None:
                from bot.prompts import hold_for_confirmation

                await hold_for_confirmation(interaction, tools, prompt, hint)
                return
        await self._accept(
            interaction,
            kind="imagine",
            params=_with_privacy(_requests.generate_params(parsed.request), private),
            public=True,
        )

    async def _start_set(
        self,
        interaction: discord.Interaction,
        prompt: str,
        every: list[ParsedPrompt],
        *,
        confirmed: bool,
        private: bool = False,
    ) -> None:
        """Permutations / ``--repeat``: one confirmation listing every prompt, then all jobs charged at once
        (or none, if the credits do not cover the whole set)."""
        if not confirmed:
            if self.tools is None:
                await reply(interaction, "Permutations are not available right now. Nothing was charged.")
                return
            from bot.prompts import hold_for_confirmation

            listed = "\n".join(f"{n}. {_text.echo(p.normalized)}" for n, p in enumerate(every, start=1))
            text = f"This makes **{len(every)} jobs**, each charged like one /imagine:\n{listed}\n"
            await hold_for_confirmation(interaction, self.tools, prompt, text, label=f"Run all {len(every)}")
            return
        await self._accept_set(interaction, every, private=private)

    async def _accept_set(
        self, interaction: discord.Interaction, every: list[ParsedPrompt], *, private: bool = False
    ) -> None:
        user, channel_id = interaction.user, interaction.channel_id
        if channel_id is None:
            await reply(interaction, "Use this in a server channel.")
            return
        slots = []
        try:
            for _ in every:
                slots.append(self.runner.queue.reserve(user.id, guild_id=interaction.guild_id))
            items = []
            for parsed in every:
                params = _with_privacy(_requests.generate_params(parsed.request), private)
                model = params.get("model") or self.runner.engine.default_model
                items.append((_requests.display_prompt(params), params, model))
            jobs = await self.store.create_jobs(
                kind="imagine",
                user_id=user.id,
                guild_id=interaction.guild_id,
                channel_id=channel_id,
                role_ids=role_ids(user, interaction.guild_id),
                items=items,
                max_active=self.max_jobs_per_user,
            )
        except (QueueRefused, QuotaRefused) as error:
            for slot in slots:
                slot.release()
            await reply(interaction, f"{error} The whole set was refused; nothing was charged.")
            return
        except BaseException:
            for slot in slots:
                slot.release()
            raise
        if not await self._acknowledge(interaction, True, private=private):
            for slot, job in zip(slots, jobs, strict=True):
                slot.release()
                await self.store.mark_failed(job.id, ACK_FAILED)
            return
        size_limit = getattr(interaction, "filesize_limit", None) or DEFAULT_SIZE_LIMIT
        for index, (slot, job) in enumerate(zip(slots, jobs, strict=True)):
            if private:  # the first in the deferred response, the others ephemeral follow-ups
                status = StatusMessage(
                    interaction.client,
                    channel_id,
                    interaction=interaction,
                    owner_id=user.id,
                    private=True,
                    followup=index > 0,
                )
            else:
                first = interaction if index == 0 else None  # the others are new channel messages
                status = StatusMessage(interaction.client, channel_id, interaction=first, owner_id=user.id)
            await self.runner.submit(slot, JobContext(job=job, status=status, size_limit=size_limit))
        log.info("jobs %s accepted as one set for user %s", [job.id for job in jobs], user.id)

    async def _remixed(
        self, interaction: discord.Interaction, prompt: str | None, base: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``base`` with the prompt and parameters of a Remix ``prompt`` (``None``: unchanged); ``None`` after
        telling the user why the prompt was refused."""
        if prompt is None:
            return base
        text = prompt
        if self.tools is not None:
            text = await self.tools.compose(interaction.guild_id, interaction.user.id, prompt, suffix=False)
        try:
            parsed = parse_prompt(text)
        except InvalidRequest as error:
            await reply(interaction, f"{error} Nothing was charged.")
            return None
        return {**base, **_requests.generate_params(parsed.request)}

    async def _open_remix(self, interaction: discord.Interaction, action: str, job_id: int, arg: int) -> bool:
        """With Remix on, answer a button with the prompt to edit instead of starting the job."""
        if self.tools is None or interaction.response.is_done():
            return False
        if not await self.tools.remix(interaction.guild_id, interaction.user.id):
            return False
        job = await self.store.get_job(job_id)
        if job is None or not in_tenant(interaction, job):  # answered "not available" by the caller
            return False
        from bot.prompts import open_remix

        await open_remix(interaction, action, job_id, arg, _requests.remix_text(job.params))
        return True

    @app_commands.command(name="cancel", description="Cancel your latest queued or running job")
    @app_commands.describe(job="A job number (default: your latest unfinished job)")
    async def cancel(
        self, interaction: discord.Interaction, job: app_commands.Range[int, 1] | None = None
    ) -> None:
        if job is None:
            target = latest_job(await self.store.user_active_jobs(interaction.user.id), interaction.guild_id)
            if target is None:
                await reply(interaction, NO_ACTIVE_JOBS)
                return
            await self._cancel(interaction, target.id, target)
            return
        await self._cancel(interaction, job, await self.store.get_job(job))

    # -- buttons (called by the DynamicItems in _views) -------------------------------------------------

    async def upscale(self, interaction: discord.Interaction, job_id: int, tile: int) -> None:
        if await self._refuse_dm(interaction):
            return
        await interaction.response.defer()
        found = await self._finished_tile(interaction, job_id, tile)
        if found is None:
            return
        parent, source = found
        params = _requests.upscale_params(parent.params, seed=source.seed)
        await self._accept(
            interaction,
            kind="upscale",
            params=params,
            public=False,
            parent_job_id=parent.id,
            parent_tile=tile,
            source_path=source.path,
        )

    async def vary_tile(
        self,
        interaction: discord.Interaction,
        job_id: int,
        tile: int,
        strength: Strength,
        *,
        prompt: str | None = None,
    ) -> None:
        if await self._refuse_dm(interaction):
            return
        if prompt is None and await self._open_remix(interaction, f"v{strength[:2]}", job_id, tile):
            return
        if not interaction.response.is_done():
            await interaction.response.defer()
        found = await self._finished_tile(interaction, job_id, tile)
        if found is None:
            return
        parent, source = found
        base = await self._remixed(interaction, prompt, parent.params)
        if base is None:
            return
        params = _requests.variation_params(base, seed=_requests.new_seed(), strength=strength)
        await self._accept(
            interaction,
            kind="variation",
            params=params,
            public=False,
            parent_job_id=parent.id,
            parent_tile=tile,
            source_path=source.path,
        )

    async def vary_upscale(
        self, interaction: discord.Interaction, job_id: int, strength: Strength, *, prompt: str | None = None
    ) -> None:
        """``Vary (Subtle|Strong)`` under an upscale: vary the tile the upscale was made from."""
        if await self._refuse_dm(interaction):
            return
        if prompt is None and await self._open_remix(interaction, f"u{strength[:2]}", job_id, 0):
            return
        await interaction.response.defer()
        upscaled = await self.store.get_job(job_id)
        if (
            upscaled is None
            or not in_tenant(interaction, upscaled)
            or upscaled.parent_job_id is None
            or upscaled.parent_tile is None
        ):
            await reply(interaction, NOT_AVAILABLE)
            return
        await self.vary_tile(
            interaction, upscaled.parent_job_id, upscaled.parent_tile, strength, prompt=prompt
        )

    async def reroll(
        self, interaction: discord.Interaction, job_id: int, *, prompt: str | None = None
    ) -> None:
        if await self._refuse_dm(interaction):
            return
        if prompt is None and await self._open_remix(interaction, "r", job_id, 0):
            return
        await interaction.response.defer()
        found = await self.store.get_job(job_id)
        if found is None or not in_tenant(interaction, found):
            await reply(interaction, NOT_AVAILABLE)
            return
        remixed = await self._remixed(interaction, prompt, found.params)
        if remixed is None:
            return
        parent = dataclasses.replace(found, params=remixed)
        seed = _requests.new_seed()
        from_source = parent.kind in _requests.EDIT_GRIDS
        if from_source and parent.parent_job_id is not None and parent.parent_tile is not None:
            source = await self.store.get_image(parent.parent_job_id, parent.parent_tile)
            if source is None:
                await reply(interaction, NOT_AVAILABLE)
                return
            await self._accept(
                interaction,
                kind=parent.kind,
                params=_requests.reroll_params(parent.params, seed),
                public=False,
                parent_job_id=parent.parent_job_id,
                parent_tile=parent.parent_tile,
                source_path=source.path,
            )
            return
        await self._accept(
            interaction, kind="reroll", params=_requests.reroll_params(parent.params, seed), public=False
        )

    async def cancel_button(self, interaction: discord.Interaction, job_id: int) -> None:
        await self._cancel(interaction, job_id, await self.store.get_job(job_id))

    # -- shared -------------------------------------------------------------------------------------------

    async def _refuse_dm(self, interaction: discord.Interaction) -> bool:
        """In a direct message with ``ALLOW_DMS`` off, answer "Use me in a server" (privately): ``True``.
        With it on, DMs run under their own allowance and blocked words (guild ``0`` in the quota tables)."""
        if interaction.guild_id is not None or self.runner.settings.allow_dms:
            return False
        await reply(interaction, USE_A_SERVER)
        return True

    async def _cancel(self, interaction: discord.Interaction, job_id: int, job: JobRecord | None) -> None:
        if job is None or not may_cancel(interaction, job):
            await reply(interaction, no_such_job(job_id))
            return
        if not job.active:
            await reply(interaction, f"Job #{job.id} has already finished.")
            return
        # Cancelling edits the job's message, which Discord may throttle: acknowledge first (3 s deadline).
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(interaction, await self.runner.cancel(job))

    async def _finished_tile(
        self, interaction: discord.Interaction, job_id: int, tile: int
    ) -> tuple[JobRecord, ImageRecord] | None:
        parent = await self.store.get_job(job_id)
        if parent is None or not in_tenant(interaction, parent):
            await reply(interaction, NOT_AVAILABLE)
            return None
        if parent.status != "succeeded":
            await reply(interaction, NOT_FINISHED if parent.active else NOT_AVAILABLE)
            return None
        source = await self.store.get_image(job_id, tile)
        if source is None:
            await reply(interaction, NOT_AVAILABLE)
            return None
        return parent, source

    async def _accept(
        self,
        interaction: discord.Interaction,
        *,
        kind: str,
        params: dict[str, Any],
        public: bool,
        parent_job_id: int | None = None,
        parent_tile: int | None = None,
        source_path: str | None = None,
    ) -> None:
        user = interaction.user
        channel_id = interaction.channel_id
        private = bool(params.get("private"))  # set by /imagine, inherited from the parent by buttons
        if channel_id is None:
            await reply(interaction, "Use this in a server channel.")
            return
        try:  # the engine's per-model check: a refused parameter costs nothing
            self.runner.engine.check(_requests.build_request(kind, params, b""))
        except EngineError as error:
            await reply(interaction, f"{error} Nothing was charged.")
            return
        try:
            slot = self.runner.queue.reserve(user.id, guild_id=interaction.guild_id)
        except QueueRefused as error:
            await reply(interaction, str(error))
            return
        # Every exit below that did not hand the job to the runner gives back what it took: the queue slot,
        # and the job row (failed and refunded) if it was created.
        checking = time.perf_counter()
        creating = asyncio.ensure_future(
            self.store.create_job(
                kind=kind,
                user_id=user.id,
                guild_id=interaction.guild_id,
                channel_id=channel_id,
                role_ids=role_ids(user, interaction.guild_id),
                prompt=_requests.display_prompt(params),
                params=params,
                model=params.get("model") or self.runner.engine.default_model,
                parent_job_id=parent_job_id,
                parent_tile=parent_tile,
                max_active=self.max_jobs_per_user,
            )
        )
        submitted = False
        try:
            done, _ = await asyncio.wait({creating}, timeout=ACK_BUDGET_S)
            if not done and not interaction.response.is_done():  # keep the 3-second deadline
                log.warning("interaction %s: the job check is slow; acknowledging first", interaction.id)
                await self._acknowledge(interaction, public, private=private)
            try:
                job = await creating
            except QuotaRefused as error:
                await self._refuse(interaction, str(error), public)
                return
            checked = time.perf_counter()
            if not interaction.response.is_done() and not await self._acknowledge(
                interaction, public, private=private
            ):
                return
            log.info(
                "job %s (%s) accepted for user %s: checked and charged in %.0f ms, acknowledged in %.0f ms",
                job.id,
                kind,
                user.id,
                (checked - checking) * 1000,
                (time.perf_counter() - checked) * 1000,
            )
            if private:  # the deferred ephemeral response, or (buttons) an ephemeral follow-up
                status = StatusMessage(
                    interaction.client,
                    channel_id,
                    interaction=interaction,
                    owner_id=user.id,
                    private=True,
                    followup=not public,
                )
            else:
                status = StatusMessage(
                    interaction.client,
                    channel_id,
                    interaction=interaction if public else None,
                    reply_to=None if public or interaction.message is None else interaction.message.id,
                    owner_id=user.id,
                )
            size_limit = getattr(interaction, "filesize_limit", None) or DEFAULT_SIZE_LIMIT
            ctx = JobContext(job=job, status=status, size_limit=size_limit, source_path=source_path)
            submitted = True  # from here the runner owns the slot and the job, whatever happens
            await self.runner.submit(slot, ctx)
        finally:
            if not submitted:
                slot.release()
                await self._give_back(creating)

    async def _give_back(self, creating: asyncio.Future[JobRecord]) -> None:
        """Fail and refund the job ``creating`` made, if it made one (a refusal or an error made none)."""
        try:
            job = await asyncio.shield(creating)
        except BaseException:  # refused, failed or cancelled: nothing was charged
            return
        try:
            if await self.store.mark_failed(job.id, ACK_FAILED):
                log.info("job %s: not acknowledged; failed and refunded", job.id)
        except Exception:
            log.exception("job %s: could not be failed after the acknowledgement failed", job.id)

    async def _refuse(self, interaction: discord.Interaction, text: str, public: bool) -> None:
        """An ephemeral refusal, even after a slow check made us defer publicly: the public "thinking"
        message is deleted and the refusal follows as an ephemeral follow-up."""
        deferred_publicly = (
            public and interaction.response.type == discord.InteractionResponseType.deferred_channel_message
        )
        if deferred_publicly and not await self._clear_public_deferral(interaction):
            log.warning(
                "interaction %s: a refusal was not sent: it would have shown publicly", interaction.id
            )
            return
        await reply(interaction, text)

    async def _clear_public_deferral(self, interaction: discord.Interaction) -> bool:
        """Take the public "thinking" message out of the way of a private answer: Discord turns the first
        follow-up after a public deferral into that message, for everyone to read. Delete it; if Discord will
        not, put a neutral text in it (the reason then follows privately). ``False`` if neither worked."""
        try:
            await interaction.delete_original_response()
            return True
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as error:
            log.warning("interaction %s: could not delete the deferred response (%r)", interaction.id, error)
        try:
            await interaction.edit_original_response(
                content=REFUSED_PUBLICLY, allowed_mentions=discord.AllowedMentions.none()
            )
            return True
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as error:
            log.warning("interaction %s: could not edit the deferred response (%r)", interaction.id, error)
            return False

    async def _acknowledge(
        self, interaction: discord.Interaction, public: bool, *, private: bool = False
    ) -> bool:
        try:
            if public:
                await interaction.response.defer(thinking=True, ephemeral=private)
            else:
                await interaction.response.defer()
        except discord.HTTPException as error:
            log.warning("interaction %s: acknowledging failed (HTTP %s)", interaction.id, error.status)
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as error:  # no answer from Discord at all
            log.warning("interaction %s: acknowledging failed (%s)", interaction.id, type(error).__name__)
            return False
        return True
