"""The sandbox page's API for select menus, Remix boxes and the Apps › Describe entry, with the real bot on
a tiny model: what the page's script sends when a user changes a /settings menu, clicks V1 with Remix on and
fills in the box, or describes a posted image."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.sandbox import Sandbox


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from engine.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


async def test_selects_remix_boxes_and_describe_through_the_page_api(
    tmp_path: Path, tiny_model: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        sandbox_port=0,
        engine_model=str(tiny_model),
        engine_device="cpu",
        engine_threads=1,
        progress_interval_s=0.2,
    )
    async with Sandbox(settings) as sandbox, aiohttp.ClientSession() as http:
        fake, admin, member = sandbox.fake, sandbox.world.admin, sandbox.world.member.user.id
        stop = asyncio.Event()
        bot = asyncio.create_task(sandbox.run_bot(stop=stop))
        try:
            await fake.wait_for(
                lambda: fake.gateway_connected and len(fake.commands(sandbox.world.guild)) > 5, 60
            )

            async def post(path: str, **body: Any) -> dict[str, Any]:
                async with http.post(
                    f"{sandbox.url}sandbox/api/{path}", json={"user": admin.user.id, **body}
                ) as r:
                    answer: dict[str, Any] = await r.json()
                    return answer

            assert (await post("command", text="/settings"))["ok"]
            panel = await fake.wait_for_message(lambda m: bool(m.selects), 10)
            answer = await post("select", message=panel.id, custom_id="ib1:st:u:aspect", values=["3:2"])
            assert answer["ok"] and "modal" not in answer
            await fake.wait_for(lambda: "--ar 3:2" in panel.content, 5)
            await post("click", message=panel.id, custom_id="ib1:st:u:remix")
            await fake.wait_for(lambda: "Remix on" in panel.content, 5)

            assert (await post("command", text="/imagine a red circle"))["ok"]
            grid = await fake.wait_for_message(lambda m: m.attachments and "V1" in m.button_labels, 30)
            opened = await post("click", message=grid.id, custom_id=grid.button("V1")["custom_id"])
            assert opened["modal"]["fields"] == [
                {"id": "prompt", "label": "Prompt", "value": "a red circle --ar 3:2"}
            ]
            sent = await post(
                "modal", interaction=opened["interaction"], values={"prompt": "a blue circle --ar 3:2"}
            )
            assert sent["ok"]
            await fake.wait_for_message(
                lambda m: m.reference is grid and m.attachments and "a blue circle" in m.content, 30
            )
            refused = await post(
                "modal", interaction=opened["interaction"], values={"prompt": "x"}, user=member
            )
            assert not refused["ok"] and "someone else" in refused["error"]

            described = await post("apps", message=grid.id, name="Describe")
            assert described["ok"]
            await fake.wait_for_message(lambda m: m.ephemeral and "upscale one" in m.content, 10)
        finally:
            stop.set()
            await asyncio.wait_for(bot, 30)


async def test_the_page_shows_settings_menus_and_a_remix_box(
    page: Any, tmp_path: Path, tiny_model: Path
) -> None:
    from playwright.async_api import expect

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        sandbox_port=0,
        engine_model=str(tiny_model),
        engine_device="cpu",
        engine_threads=1,
        progress_interval_s=0.2,
    )
    async with Sandbox(settings) as sandbox:
        fake = sandbox.fake
        stop = asyncio.Event()
        bot = asyncio.create_task(sandbox.run_bot(stop=stop))
        try:
            await fake.wait_for(
                lambda: fake.gateway_connected and len(fake.commands(sandbox.world.guild)) > 5, 60
            )
            await page.goto(f"{sandbox.url}?user={sandbox.world.admin.user.id}")
            prompt = page.get_by_test_id("prompt")
            await prompt.fill("/settings")
            await prompt.press("Enter")
            aspect = page.locator('select[data-custom-id="ib1:st:u:aspect"]')
            await expect(aspect).to_be_visible(timeout=10_000)
            await aspect.select_option("3:2")
            await expect(page.locator('[data-testid="message"]', has_text="--ar 3:2")).to_have_count(1)
            await page.get_by_role("button", name="Remix mode").click()
            await expect(page.locator('[data-testid="message"]', has_text="Remix on")).to_have_count(1)

            await prompt.fill("/imagine a red circle")
            await prompt.press("Enter")
            grid = page.locator('[data-testid="message"]', has=page.locator("button", has_text="V1"))
            await expect(grid).to_have_count(1, timeout=30_000)
            page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("a blue circle --ar 3:2")))
            await grid.get_by_role("button", name="V1").click()
            varied = page.locator('[data-testid="message"]', has_text="a blue circle")
            await expect(varied.first).to_be_visible(timeout=30_000)
        finally:
            stop.set()
            await asyncio.wait_for(bot, 30)
