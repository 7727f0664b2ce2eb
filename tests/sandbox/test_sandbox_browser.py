"""The whole bot in the sandbox, driven from the page in headless Chromium: /imagine, U1, V2, a quota refusal,
then a restart after which a button on the old grid still works.

The bot runs exactly as `python -m bot` runs it without a token (`Sandbox.run_bot` → `bot.runner.run_bot`),
with the real engine on a tiny model and a real SQLite file in DATA_DIR.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from bot.config import Settings
from bot.sandbox import Sandbox

from .conftest import ARTIFACTS

GRID_TIMEOUT_MS = 180_000


def _bot_missing() -> str | None:
    try:
        importlib.import_module("bot.runner")
        importlib.import_module("bot.quota")
    except ImportError as exc:
        return f"the bot cannot be imported yet: {exc}"
    return None


pytestmark = pytest.mark.skipif(_bot_missing() is not None, reason=_bot_missing() or "")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from engine.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@contextlib.asynccontextmanager
async def sandbox_with_bot(settings: Settings) -> AsyncIterator[Sandbox]:
    stop = asyncio.Event()
    async with Sandbox(settings) as sandbox:
        bot = asyncio.create_task(sandbox.run_bot(stop=stop), name="sandbox-bot")
        try:
            await sandbox.fake.wait_for_commands("imagine", "quota", guild=sandbox.world.guild, timeout=120)
            await sandbox.fake.wait_for_bot(timeout=60)
            yield sandbox
        finally:
            stop.set()
            await asyncio.wait_for(bot, 60)


def grids(page: Page) -> Locator:
    return page.locator('[data-testid="message"]', has=page.get_by_role("button", name="V4", exact=True))


async def wait_image_loaded(page: Page, image: Locator) -> int:
    handle = await image.element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
    width: int = await image.evaluate("img => img.naturalWidth")
    return width


async def send(page: Page, text: str) -> None:
    prompt = page.get_by_test_id("prompt")
    await prompt.fill(text)
    await prompt.press("Enter")
    await expect(prompt).to_have_value("")


@pytest.mark.slow
async def test_imagine_upscale_vary_and_quota_refusal_in_the_browser(
    page: Page, tmp_path: Path, tiny_model: Path, discord_errors: list[logging.LogRecord]
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        sandbox_port=0,
        engine_model=str(tiny_model),
        engine_device="cpu",
        engine_threads=1,
        engine_preview_every=1,
        progress_interval_s=0.3,
    )
    async with sandbox_with_bot(settings) as sandbox:
        world = sandbox.world
        await page.goto(f"{sandbox.url}?user={world.admin.user.id}")
        await expect(page.get_by_test_id("bot-status")).to_have_text("bot online")

        await send(page, "/imagine a red circle --ar 3:2")
        grid = grids(page)
        await expect(grid).to_have_count(1, timeout=GRID_TIMEOUT_MS)
        await expect(grid).to_contain_text("a red circle")
        labels = await grid.get_by_role("button").all_inner_texts()
        assert [label.strip() for label in labels][:4] == ["U1", "U2", "U3", "U4"]
        grid_width = await wait_image_loaded(page, grid.locator('img[data-testid="attachment-image"]'))

        await grid.get_by_role("button", name="U1", exact=True).click()
        upscale = page.locator(
            '[data-testid="message"]', has=page.get_by_role("button", name="Vary (Subtle)")
        )
        await expect(upscale).to_have_count(1, timeout=GRID_TIMEOUT_MS)
        await wait_image_loaded(page, upscale.locator('img[data-testid="attachment-image"]'))

        await grid.get_by_role("button", name="V2", exact=True).click()
        await expect(grids(page)).to_have_count(2, timeout=GRID_TIMEOUT_MS)
        await wait_image_loaded(page, grids(page).nth(1).locator('img[data-testid="attachment-image"]'))

        # The admin takes the member's credits away; the member's /imagine is then refused, privately.
        await send(page, f"/quota set-user user:@{world.member.user.name} credits:0")
        await expect(page.locator(".message.ephemeral").last).to_contain_text("member", timeout=30_000)
        await page.get_by_test_id("user-switcher").select_option(str(world.member.user.id))
        await expect(grids(page)).to_have_count(2)
        await expect(page.locator(".message.ephemeral")).to_have_count(0)
        await send(page, "/imagine a blue square")
        refusal = page.locator(".message.ephemeral", has_text="Out of credits")
        await expect(refusal).to_have_count(1, timeout=30_000)
        await expect(refusal).to_contain_text("Only you can see this")
        await send(page, "/info")
        info = page.locator(".message.ephemeral", has_text="Model:")
        await expect(info).to_contain_text("Credits: 0 left", timeout=30_000)

        first_grid = grids(page).first.locator('img[data-testid="attachment-image"]')
        await first_grid.scroll_into_view_if_needed()
        assert await first_grid.is_visible() and await wait_image_loaded(page, first_grid) == grid_width
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "sandbox.png"))
        assert (ARTIFACTS / "sandbox.png").stat().st_size > 10_000
        admin_id = world.admin.user.id

    # A restart keeps the channel, its ids and the bot's database: a button on the old grid still works.
    async with sandbox_with_bot(settings) as sandbox:
        await page.goto(f"{sandbox.url}?user={admin_id}")
        await expect(page.get_by_test_id("bot-status")).to_have_text("bot online")
        await expect(grids(page)).to_have_count(2)
        await grids(page).first.get_by_role("button", name="U2", exact=True).click()
        await expect(upscale).to_have_count(2, timeout=GRID_TIMEOUT_MS)
        await wait_image_loaded(page, upscale.last.locator('img[data-testid="attachment-image"]'))
