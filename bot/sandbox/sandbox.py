"""The local sandbox: the fake Discord server with one guild, one channel, an admin and a member, the page,
and the real bot connected to it."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import webbrowser
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pydantic import SecretStr

from bot.config import Settings
from bot.sandbox.fake_discord import MANAGE_GUILD, Channel, FakeDiscord, Guild, Member
from bot.sandbox.persistence import SandboxStore
from bot.sandbox.web import SandboxWeb

if TYPE_CHECKING:
    from engine.api import Engine

log = logging.getLogger(__name__)

SANDBOX_HOST = "127.0.0.1"
GUILD_NAME = "Sandbox"
CHANNEL_NAME = "imagine"
ADMIN_ROLE = "Admin"
ADMIN_NAME = "admin"
MEMBER_NAME = "member"


@dataclass(frozen=True)
class SandboxWorld:
    guild: Guild
    channel: Channel
    admin: Member
    """Has the Admin role (Manage Server)."""
    member: Member
    """An ordinary member."""


class Sandbox:
    """Start with `async with Sandbox(settings) as sandbox:`, then `await sandbox.run_bot()`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = SandboxStore(settings.data_dir / "sandbox")
        saved = self.store.load()
        self._ids: dict[str, int] = dict(saved["ids"]) if saved else {}
        self._saved_messages: list[dict[str, Any]] = list(saved["messages"]) if saved else []
        self.fake = FakeDiscord(
            host=SANDBOX_HOST,
            port=settings.sandbox_port,
            bot_id=self._ids.get("bot"),
            token=secrets.token_urlsafe(24),  # a new one each run: only this process's bot can connect
        )
        self.world = self._build_world()
        self.web = SandboxWeb(
            self.fake, self.world.guild, self.world.channel, [self.world.admin, self.world.member]
        )
        self.web.mount(self.fake.app)

    def _build_world(self) -> SandboxWorld:
        fake, ids = self.fake, self._ids
        owner = fake.add_user("sandbox owner", id=ids.get("owner"))
        guild = fake.add_guild(GUILD_NAME, owner=owner, id=ids.get("guild"), bot_role_id=ids.get("bot_role"))
        channel = fake.add_channel(guild, CHANNEL_NAME, topic="Try /imagine", id=ids.get("channel"))
        admins = fake.add_role(guild, ADMIN_ROLE, permissions=MANAGE_GUILD, id=ids.get("admin_role"))
        admin = fake.add_member(guild, fake.add_user(ADMIN_NAME, id=ids.get("admin")), roles=[admins])
        member = fake.add_member(guild, fake.add_user(MEMBER_NAME, id=ids.get("member")))
        self._ids = {
            "bot": fake.bot_user.id,
            "owner": owner.id,
            "guild": guild.id,
            "bot_role": guild.role_named(fake.bot_user.name).id,
            "channel": channel.id,
            "admin_role": admins.id,
            "admin": admin.user.id,
            "member": member.user.id,
        }
        return SandboxWorld(guild=guild, channel=channel, admin=admin, member=member)

    @property
    def url(self) -> str:
        return f"{self.fake.http_base}/"

    async def start(self) -> Self:
        try:
            await self.fake.start()
        except OSError as exc:
            from bot.runner import StartupError

            port = self.settings.sandbox_port
            raise StartupError(
                f"the sandbox cannot listen on {SANDBOX_HOST}:{port} ({exc.strerror or exc}); "
                "set SANDBOX_PORT to a free port"
            ) from None
        await asyncio.to_thread(self.store.save_ids, self._ids)
        restored = self.store.restore_messages(self.fake, self._saved_messages)
        if restored:
            log.info("restored %d sandbox messages", restored)
        self.store.watch(self.fake, self._ids)
        return self

    async def stop(self) -> None:
        await self.store.save()
        await self.web.close()
        await self.fake.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def bot_settings(self) -> Settings:
        """The user's settings, pointed at this server (commands synced to the sandbox guild at once)."""
        return self.settings.model_copy(
            update={
                "discord_token": SecretStr(self.fake.token),
                "discord_api_base": self.fake.rest_base,
                "discord_gateway_url": self.fake.gateway_url,
                "dev_guild_id": self.world.guild.id,
            }
        )

    async def run_bot(self, *, stop: asyncio.Event | None = None, engine: Engine | None = None) -> None:
        from bot.runner import run_bot  # the bot needs the engine; the fake server alone does not

        await run_bot(self.bot_settings(), stop=stop, engine=engine)


async def run_sandbox(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    engine: Engine | None = None,
    open_browser: bool | None = None,
) -> None:
    """`python -m bot` without a token: serve the sandbox page on 127.0.0.1:SANDBOX_PORT and run the bot
    against the built-in Discord-compatible server until stopped (Ctrl+C / SIGTERM). The page opens in the
    default browser when there is a desktop to show it (`open_browser=None`), or as asked."""
    async with Sandbox(settings) as sandbox:
        print(f"imaginebot sandbox: open {sandbox.url} (Ctrl+C to stop)", flush=True)
        if open_browser if open_browser is not None else _has_desktop():
            asyncio.get_running_loop().run_in_executor(None, webbrowser.open, sandbox.url)
        await sandbox.run_bot(stop=stop, engine=engine)


def _has_desktop() -> bool:
    if not sys.stdout.isatty():
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
