"""Running the bot until asked to stop: ``run_bot(settings)`` is what ``python -m bot`` awaits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading

import discord

from bot.app import ImagineBot
from bot.config import Settings
from bot.db.errors import DatabaseUrlError
from bot.discord_urls import apply_discord_urls
from engine.api import Engine
from engine.errors import InvalidSetting, UnknownModel

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 20.0


class StartupError(Exception):
    """The bot cannot start; ``str(error)`` says why and never contains the token."""


def bot_token(settings: Settings) -> str:
    """The configured token, checked for shape (Discord rejects a wrong one at login)."""
    if settings.discord_token is None:
        raise StartupError("DISCORD_TOKEN is not set: put the bot token in the environment or .env.")
    token = settings.discord_token.get_secret_value().strip()
    if not token:
        raise StartupError("DISCORD_TOKEN is empty: put the bot token in the environment or .env.")
    if any(ch.isspace() for ch in token) or token.lower().startswith("bot "):
        raise StartupError(
            "DISCORD_TOKEN looks malformed: give the bare token (no spaces, no 'Bot ' prefix)."
        )
    return token


async def run_bot(
    settings: Settings, *, stop: asyncio.Event | None = None, engine: Engine | None = None
) -> None:
    """Run until ``stop`` is set, SIGINT/SIGTERM arrive or the connection fails for good; then close
    everything within :data:`STOP_TIMEOUT_S` (the running job is requeued, not lost)."""
    token = bot_token(settings)
    apply_discord_urls(settings.discord_api_base, settings.discord_gateway_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = _install_signal_handlers(loop, stop)
    bot = ImagineBot(settings, engine=engine)
    try:
        async with bot:
            running = asyncio.create_task(bot.start(token), name="imaginebot-discord")
            stopping = asyncio.create_task(stop.wait(), name="imaginebot-stop")
            done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if running in done:
                stopping.cancel()
                _raise_startup_error(running)
                return
            log.info("stopping")
            try:
                await asyncio.wait_for(bot.close(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.error("shutdown took longer than %.0f s", STOP_TIMEOUT_S)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _raise_startup_error(task: asyncio.Task[None]) -> None:
    error = task.exception()
    if error is None:
        return
    if isinstance(error, discord.LoginFailure):
        raise StartupError("Discord rejected DISCORD_TOKEN (401): check the bot token.") from None
    if isinstance(error, DatabaseUrlError | UnknownModel | InvalidSetting):  # a setting the bot cannot use
        raise StartupError(str(error)) from None
    if isinstance(error, discord.PrivilegedIntentsRequired):
        raise StartupError("Discord refused the gateway intents the bot asked for.") from None
    raise error


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[signal.Signals]:
    if threading.current_thread() is not threading.main_thread():
        return []
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            continue
        installed.append(sig)
    return installed
