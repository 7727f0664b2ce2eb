"""The sandbox page in headless Chromium, driving a small discord.py bot through the fake server."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiohttp
import discord
import pytest
import yarl
from playwright.async_api import Page, expect

from bot.config import Settings
from bot.sandbox import Sandbox
from bot.sandbox.fake_discord import MANAGE_GUILD

from .conftest import ARTIFACTS
from .drawbot import running


def sandbox_settings(data_dir: Path) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, sandbox_port=0)  # type: ignore[call-arg]


def point_discord_at(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", sandbox.fake.rest_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(sandbox.fake.gateway_url)
    )


async def test_page_sends_commands_and_clicks_and_shows_ephemeral_only_to_its_user(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, discord_errors: list[logging.LogRecord]
) -> None:
    async with Sandbox(sandbox_settings(tmp_path)) as sandbox:
        world = sandbox.world
        assert world.admin.permissions & MANAGE_GUILD and not world.member.permissions & MANAGE_GUILD
        point_discord_at(sandbox, monkeypatch)
        async with running(sandbox.fake, world.guild.id):
            await page.goto(f"{sandbox.url}?user={world.admin.user.id}")
            await expect(page.get_by_test_id("bot-status")).to_have_text("bot online")
            await expect(page.get_by_test_id("user-switcher")).to_have_value(str(world.admin.user.id))

            prompt = page.get_by_test_id("prompt")
            await prompt.fill("/dr")
            await expect(page.locator("#suggestions")).to_contain_text("/draw")
            await prompt.fill("/draw a red square")
            await expect(page.locator("#suggestions")).to_contain_text("prompt: What to draw")
            await prompt.press("Enter")
            drawn = page.locator('[data-testid="message"]', has=page.locator("button", has_text="Again 1"))
            await expect(drawn).to_have_count(1, timeout=10_000)
            await expect(drawn).to_contain_text("a red square")
            await expect(drawn).to_contain_text("admin used /draw")
            image = drawn.locator('img[data-testid="attachment-image"]')
            await expect(image).to_be_visible()
            await page.wait_for_function(
                "img => img.complete && img.naturalWidth === 16", arg=await image.element_handle()
            )
            await expect(prompt).to_have_value("")

            await drawn.get_by_role("button", name="Again 1").click()
            note = page.locator('[data-testid="message"]', has_text="again 1 for admin")
            await expect(note).to_contain_text("Only you can see this")

            # The member sees the public picture but not the admin's ephemeral note.
            await page.get_by_test_id("user-switcher").select_option(str(world.member.user.id))
            await expect(drawn).to_have_count(1)
            await expect(note).to_have_count(0)
            await prompt.fill(f"/quota set user:@{world.admin.user.name} amount:3")
            await prompt.press("Enter")
            refusal = page.locator('[data-testid="message"]', has_text="You need Manage Server.")
            await expect(refusal).to_contain_text("Only you can see this")

            # Live update: a message the bot posts appears without reloading.
            channel = sandbox.fake.world.channels[world.channel.id]
            await sandbox.fake.wait_for(lambda: sandbox.fake.gateway_connected)
            async with aiohttp.ClientSession() as http:
                await http.post(
                    f"{sandbox.fake.rest_base}/channels/{channel.id}/messages",
                    json={"content": "announced **live**"},
                    headers={"Authorization": f"Bot {sandbox.fake.token}"},
                )
            await expect(page.locator("strong", has_text="live")).to_be_visible()

            await prompt.fill("/silent")
            await prompt.press("Enter")
            await expect(page.get_by_test_id("notice")).to_contain_text("did not respond in time (silent)")

            await prompt.fill("/nothing here")
            await prompt.press("Enter")
            await expect(page.get_by_test_id("notice")).to_contain_text("Unknown command /nothing")
            await prompt.fill("/quota set amount:lots")
            await prompt.press("Enter")
            await expect(page.get_by_test_id("notice")).to_contain_text("needs: user:")

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "sandbox-page-drawbot.png"), full_page=True)

    # Everything the channel showed is kept in DATA_DIR, with the same ids, for the next start.
    state = json.loads((tmp_path / "sandbox" / "state.json").read_text())
    assert state["ids"]["guild"] == world.guild.id
    async with Sandbox(sandbox_settings(tmp_path)) as again:
        assert again.world.guild.id == world.guild.id and again.world.member.user.id == world.member.user.id
        assert again.fake.bot_user.id == sandbox.fake.bot_user.id
        restored = await again.fake.wait_for_message(lambda m: "Again 1" in m.button_labels, timeout=1)
        assert restored.attachments[0].data.startswith(b"\x89PNG")
        async with aiohttp.ClientSession() as http, http.get(restored.attachments[0].url) as response:
            assert response.status == 200 and (await response.read()) == restored.attachments[0].data
        notes = [m for m in again.fake.messages() if m.content == "again 1 for admin"]
        assert len(notes) == 1 and notes[0].visible_to == world.admin.user.id
    await asyncio.sleep(0)


async def test_a_busy_port_is_a_clear_start_up_error(tmp_path: Path) -> None:
    from bot.runner import StartupError

    async with Sandbox(sandbox_settings(tmp_path / "one")) as first:
        busy = sandbox_settings(tmp_path / "two").model_copy(update={"sandbox_port": first.fake.port})
        with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{first.fake.port}.*SANDBOX_PORT"):
            async with Sandbox(busy):
                pass


async def test_long_sessions_stay_bounded_in_memory_and_on_disk(tmp_path: Path) -> None:
    from bot.sandbox.fake_discord.uploads import UploadedFile
    from bot.sandbox.persistence import KEEP_MESSAGES

    async with Sandbox(sandbox_settings(tmp_path)) as sandbox:
        world, fake = sandbox.world, sandbox.fake
        files = tmp_path / "sandbox" / "attachments"
        progress = fake.world.create_message(
            world.channel,
            fake.bot_user,
            {"content": "0%"},
            [UploadedFile(0, "p.png", b"\x89PNG0", "image/png")],
        )
        await sandbox.store.save()
        first_preview = progress.attachments[0]
        assert (
            first_preview.content is None and first_preview.path is not None and first_preview.path.exists()
        )
        fake.world.edit_message(
            progress,
            {"content": "50%", "attachments": []},
            [UploadedFile(0, "p.png", b"\x89PNG1", "image/png")],
        )
        for n in range(KEEP_MESSAGES + 5):
            fake.world.create_message(world.channel, fake.bot_user, {"content": f"message {n}"}, [])
        await sandbox.store.save()
        assert len(fake.world.messages) == KEEP_MESSAGES
        assert progress.id not in fake.world.messages and not fake.world.attachments
        assert list(files.iterdir()) == [] and not first_preview.path.exists()
    async with Sandbox(sandbox_settings(tmp_path)) as again:
        contents = [m.content for m in again.fake.messages()]
        assert len(contents) == KEEP_MESSAGES and contents[-1] == f"message {KEEP_MESSAGES + 4}"
