"""End-to-end helpers: the real bot, started like ``python -m bot`` (``run_bot``), against FakeDiscord on
127.0.0.1, with a real SQLite file and the real engine on a tiny model built once per session."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from bot.config import Settings
from bot.db import Database, JobRecord, JobStore, QuotaService, open_database
from bot.runner import run_bot
from bot.sandbox.fake_discord import (
    Channel,
    FakeDiscord,
    Guild,
    InteractionRecord,
    Member,
    Message,
)
from engine.api import DescribeRequest, Description, Engine, ModelInfo, ProgressCallback, Request
from engine.errors import Cancelled

ROOT = Path(__file__).resolve().parents[2]
BOT_START_TIMEOUT_S = 60.0
WAIT_S = 30.0
WATCHED_LOGGERS = ("discord", "bot", "engine", "asyncio")


class ErrorLog(logging.Handler):
    """Collects ERROR records (unhandled exceptions included) from the bot, discord.py, engine and asyncio."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.allowed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in WATCHED_LOGGERS:
            self.records.append(record)

    def allow(self, fragment: str) -> None:
        """Expect error records whose message contains ``fragment`` (the test checks them itself)."""
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        found = []
        for record in self.records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += (
                    f" [{record.exc_info[0].__name__ if record.exc_info[0] else ''}: {record.exc_info[1]}]"
                )
            if not any(fragment in text for fragment in self.allowed):
                found.append(f"{record.name}: {text}")
        return found


@dataclass
class World:
    """What every test starts with: a server with a channel, an admin and two members."""

    fake: FakeDiscord
    guild: Guild
    channel: Channel
    admin: Member
    alice: Member
    bob: Member
    settings: Settings
    engine: Engine | None = None
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _db: Database | None = None

    async def start_bot(self, *, engine: Engine | None = None, **changes: Any) -> None:
        """Start the bot as ``python -m bot`` does and wait until it is connected with its commands."""
        if changes:
            self.settings = self.settings.model_copy(update=changes)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            run_bot(self.settings, stop=self._stop, engine=engine or self.engine)
        )
        waiting = asyncio.create_task(
            self.fake.wait_for(
                lambda: self.fake.gateway_connected and self._commands_ready(), BOT_START_TIMEOUT_S
            )
        )
        done, _ = await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiting.cancel()
            self._task.result()
            raise AssertionError("the bot stopped during start-up")
        await waiting

    def _commands_ready(self) -> bool:
        names = {command["name"] for command in self.fake.commands(self.guild)}
        return {"imagine", "info", "cancel", "quota"} <= names

    async def stop_bot(self, timeout: float = 25.0) -> None:  # noqa: ASYNC109
        if self._task is None:
            return
        self._stop.set()
        task, self._task = self._task, None
        await asyncio.wait_for(task, timeout)
        await self.fake.wait_for(lambda: not self.fake.gateway_connected, 5)

    async def db(self) -> Database:
        if self._db is None:
            self._db = await open_database(self.settings.resolved_database_url)
        return self._db

    async def jobs(self) -> JobStore:
        return JobStore(await self.db())

    async def quota(self) -> QuotaService:
        return QuotaService(await self.db())

    async def job_for(self, message: Message, *, finished: bool = True) -> JobRecord:
        """The job whose message is ``message`` (waiting briefly for the bot to record its end)."""
        from sqlalchemy import select

        from bot.db.models import Job

        db, store = await self.db(), await self.jobs()
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            async with db.reader() as session:
                job_id = await session.scalar(select(Job.id).where(Job.message_id == message.id))
            record = await store.get_job(int(job_id)) if job_id is not None else None
            if record is not None and not (finished and record.active):
                return record
            assert asyncio.get_running_loop().time() < deadline, f"no finished job for message {message.id}"
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.stop_bot()
        if self._db is not None:
            await self._db.close()

    # -- actions -------------------------------------------------------------------------------------------

    async def imagine(self, user: Member, prompt: str) -> InteractionRecord:
        return await self.fake.slash(user, self.channel, "imagine", prompt=prompt)

    async def wait_result(self, interaction: InteractionRecord, timeout: float = WAIT_S) -> Message:  # noqa: ASYNC109
        """The final state of a ``/imagine`` (its original response with buttons or a final state)."""

        def done() -> Message | None:
            message = interaction.original
            if message is None or message.loading:
                return None
            if message.attachments and message.buttons and "Cancel" not in message.button_labels:
                return message
            if "(Failed" in message.content or "(Cancelled)" in message.content:
                return message
            return None

        result: Message = await self.fake.wait_for(done, timeout)
        return result

    async def wait_reply_result(self, to: Message, *, label: str, timeout: float = WAIT_S) -> Message:  # noqa: ASYNC109
        """A finished result posted as a reply to ``to`` whose buttons include ``label``."""
        return await self.fake.wait_for_message(
            lambda m: m.reference is to and m.attachments and label in m.button_labels,
            timeout,
            channel=self.channel,
        )


async def start_bot_process(
    world: World, *, output: bool = True, **overrides: str | None
) -> asyncio.subprocess.Process:
    """Start ``python -m bot`` as a separate process against ``world``'s fake Discord, configured only
    through the environment (CPU, one torch thread, the world's model and data folder). ``overrides`` set
    more variables (``None`` removes one); with ``output`` its stdout+stderr are piped, else discarded."""
    settings = world.settings
    env = {
        **os.environ,
        "DISCORD_TOKEN": world.fake.token,
        "DISCORD_API_BASE": settings.discord_api_base,
        "DISCORD_GATEWAY_URL": settings.discord_gateway_url,
        "DATA_DIR": str(settings.data_dir),
        "ENGINE_MODEL": str(settings.engine_model),
        "ENGINE_DEVICE": "cpu",
        "ENGINE_THREADS": "1",
        "DEV_GUILD_ID": str(world.guild.id),
        "OMP_NUM_THREADS": "1",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    sink = asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=sink,
        stderr=asyncio.subprocess.STDOUT if output else asyncio.subprocess.DEVNULL,
    )


def stored_file(path: str | None) -> bytes:
    """The bytes of a file the bot stored (fails if it is missing)."""
    assert path is not None
    return Path(path).read_bytes()


def remove_file(path: str) -> None:
    Path(path).unlink()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class GatedEngine:
    """The real engine behind a gate the test opens: each job waits (cancellably) before it renders, so a test
    can hold jobs in the queue or mid-run. Everything else is the real engine's."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.started: list[int] = []
        self._cancelled: set[str] = set()

    @property
    def default_model(self) -> str:
        return self.inner.default_model

    def models(self) -> list[ModelInfo]:
        return self.inner.models()

    def check(self, request: Request) -> ModelInfo | None:
        return self.inner.check(request)

    async def run(self, request: Request, *, job_id: str, on_progress: ProgressCallback | None = None) -> Any:
        self.started.append(int(job_id))
        while not self.gate.is_set():
            if job_id in self._cancelled:
                raise Cancelled()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gate.wait(), 0.02)
        return await self.inner.run(request, job_id=job_id, on_progress=on_progress)

    async def describe(self, request: DescribeRequest, *, job_id: str) -> Description:
        return await self.inner.describe(request, job_id=job_id)

    def cancel(self, job_id: str) -> bool:
        self._cancelled.add(job_id)
        self.inner.cancel(job_id)
        return True

    async def close(self) -> None:
        await self.inner.close()


def real_engine(settings: Settings) -> Engine:
    from engine.factory import create_engine

    return create_engine(
        model=settings.engine_model,
        device=settings.engine_device,
        threads=settings.engine_threads,
        preview_every=settings.engine_preview_every,
    )
