"""Fixtures: a started FakeDiscord with a guild, and discord.py pointed at it, failing on logged
exceptions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import discord
import pytest
import yarl
from playwright.async_api import Page, async_playwright

from bot.sandbox.fake_discord import MANAGE_GUILD, Channel, FakeDiscord, Guild, Member


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


WATCHED_LOGGERS = ("discord", "asyncio", "aiohttp", "bot", "engine")


@pytest.fixture
def discord_errors() -> Iterator[list[logging.LogRecord]]:
    """Every ERROR (e.g. discord.py's 'Ignoring exception in …', an unretrieved task exception, a failure
    inside the fake server or the bot) logged during the test; the test fails on any."""
    collector = _ErrorCollector()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(collector)
    try:
        yield collector.records
    finally:
        for logger in loggers:
            logger.removeHandler(collector)
    problems = [f"{r.name}: {r.getMessage()}" for r in collector.records]
    assert not problems, f"discord.py logged errors: {problems}"


@dataclass
class Server:
    fake: FakeDiscord
    guild: Guild
    channel: Channel
    admin: Member
    member: Member


@pytest.fixture
async def server(
    monkeypatch: pytest.MonkeyPatch, discord_errors: list[logging.LogRecord]
) -> AsyncIterator[Server]:
    fake = FakeDiscord()
    await fake.start()
    guild = fake.add_guild("Test server")
    channel = fake.add_channel(guild, "imagine")
    admins = fake.add_role(guild, "Admins", permissions=MANAGE_GUILD)
    admin = fake.add_member(guild, "admin", roles=[admins])
    member = fake.add_member(guild, "member")
    monkeypatch.setattr(discord.http.Route, "BASE", fake.rest_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    try:
        yield Server(fake, guild, channel, admin, member)
    finally:
        await fake.stop()
    assert not fake.server_errors, f"the fake server failed: {fake.server_errors}"
    assert not fake.unhandled_requests, f"routes the server lacks: {fake.unhandled_requests}"


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HAVE_CHROMIUM = CHROMIUM.exists()
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page in headless Debian Chromium (skipped when Chromium is not installed)."""
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            assert not errors, f"the page raised JavaScript errors: {errors}"
        finally:
            await browser.close()
