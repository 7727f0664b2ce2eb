"""The bot: resources made in ``setup_hook`` (database, engine, job queue), cogs, buttons, command sync,
start-up recovery, and an orderly ``close()`` that requeues the running job instead of losing it."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import imagine
from bot.config import Settings
from bot.db import Database, JobStore, QuotaService, open_database
from bot.info import InfoCog
from bot.queue import JobQueue
from bot.replies import reply
from engine.api import Engine

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 12.0
COMMAND_FAILED = "That command failed on our side; it has been logged. Nothing was charged."


class ImagineBot(commands.Bot):
    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        # The bot never joins voice: no "PyNaCl/davey is not installed" warnings at start-up.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            # Nobody is pinged unless a message names whom it may notify (a job's owner: bot.replies).
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self._injected_engine = engine
        self.engine: Engine | None = engine
        self.db: Database | None = None
        self.store: JobStore | None = None
        self.quota: QuotaService | None = None
        self.queue: JobQueue | None = None
        self.imagine: imagine.ImagineCog | None = None
        self.recovery: asyncio.Task[tuple[int, int]] | None = None
        self._shutdown: asyncio.Future[None] | None = None
        self.tree.error(self._on_command_error)

    async def setup_hook(self) -> None:
        settings = self.settings
        await asyncio.to_thread(settings.images_dir.mkdir, parents=True, exist_ok=True)
        self.db = await open_database(settings.resolved_database_url)
        self.store, self.quota = JobStore(self.db), QuotaService(self.db)
        await self.quota.configure_dms(
            credits=settings.dm_credits,
            period=settings.dm_period,
            blocked_words=settings.dm_blocked_word_list,
        )
        if self.engine is None:
            from engine.factory import create_engine  # torch-free at import; loads the model on its thread

            self.engine = await asyncio.to_thread(
                create_engine,
                model=settings.engine_model,
                device=settings.engine_device,
                threads=settings.engine_threads,
                preview_every=settings.engine_preview_every,
                upscaler=settings.engine_upscaler,
                backend=settings.engine_backend,
                ray_settings=settings,
                describer=settings.engine_describer,
                dtype=settings.engine_dtype,
                offload=settings.engine_offload,
                vae_tiling=settings.engine_vae_tiling,
                compile=settings.engine_compile,
                quantize=settings.engine_quantize,
                models_loaded=settings.engine_models_loaded,
                preview_decoder=settings.engine_preview_decoder,
            )
        engine = self.engine
        self.queue = JobQueue(
            max_waiting=settings.queue_max,
            per_guild_max=settings.queue_max_per_guild,
            # One user's jobs in every server; the cap of each server (MAX_JOBS_PER_USER unless its admins
            # set another) is enforced with the charge, in the job's own transaction.
            per_user_cap=settings.max_jobs_per_user_global,
            cancel_running=lambda job_id: engine.cancel(str(job_id)),
            capacity=lambda: getattr(engine, "capacity", 1),  # a worker pool runs several jobs at once
        )
        self.imagine = await imagine.setup(
            self, store=self.store, engine=engine, queue=self.queue, settings=settings
        )
        await self.add_cog(InfoCog(store=self.store, quota=self.quota, queue=self.queue, engine=engine))
        await self._add_quota_cog(self.quota)
        await self._add_prompt_tools(self.db, self.store, engine, self.imagine)
        await self._sync_commands()
        self.queue.start()
        self.recovery = asyncio.create_task(self._recover(), name="imaginebot-recovery")

    async def _add_quota_cog(self, quota: QuotaService) -> None:
        from bot.quota import QuotaCog

        await self.add_cog(QuotaCog(quota, job_cap_limit=self.settings.job_cap_limit))

    async def _add_prompt_tools(
        self, db: Database, store: JobStore, engine: Engine, imagine_cog: imagine.ImagineCog
    ) -> None:
        """``/settings``, ``/prefer``, ``/describe``, Remix boxes and honest hints."""
        from bot.db.preferences import PreferenceStore
        from bot.describe import DescribeCog, PromptButton
        from bot.prefer import PreferCog
        from bot.prompts import ConfirmButton, PromptTools, RemixListener
        from bot.settings import SettingButton, SettingsCog, SettingSelect

        preferences = PreferenceStore(db)
        imagine_cog.tools = PromptTools(preferences, engine)
        self.add_dynamic_items(ConfirmButton, PromptButton, SettingButton, SettingSelect)
        await self.add_cog(RemixListener())
        await self.add_cog(SettingsCog(preferences, engine))
        await self.add_cog(PreferCog(preferences))
        await self.add_cog(
            DescribeCog(
                store=store,
                preferences=preferences,
                engine=engine,
                max_jobs_per_user=self.settings.max_jobs_per_user,
                tree=self.tree,
                allow_dms=self.settings.allow_dms,
            )
        )

    async def _sync_commands(self) -> None:
        if self.settings.dev_guild_id:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), self.settings.dev_guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))

    async def _recover(self) -> tuple[int, int]:
        assert self.imagine is not None
        try:
            return await self.imagine.resume_unfinished(self)
        except Exception:
            log.exception("start-up recovery failed")
            return 0, 0

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CheckFailure):
            await reply(interaction, str(error) or "You cannot use this command.")
            return
        command = interaction.command.name if interaction.command else "?"
        log.error("command /%s failed", command, exc_info=error)
        await reply(interaction, COMMAND_FAILED)

    async def close(self) -> None:
        """Stop taking jobs, requeue the running one, then close Discord, the engine and the database."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._close_everything())
        await asyncio.shield(self._shutdown)

    async def _close_everything(self) -> None:
        if self.recovery is not None and not self.recovery.done():
            self.recovery.cancel()
        if self.queue is not None and not self.queue.closed:
            for interrupted in await self.queue.stop_all(grace_s=SHUTDOWN_GRACE_S):
                if self.store is not None:
                    requeued = await self.store.requeue(interrupted)
                    done = "requeued for the next start" if requeued else "had ended"
                    log.info("job %s %s", interrupted, done)
        if self.imagine is not None:
            await self.imagine.close()
        await super().close()
        if self.engine is not None and self._injected_engine is None:
            engine, self.engine = self.engine, None
            await engine.close()
        if self.db is not None:
            db, self.db = self.db, None
            await db.close()
