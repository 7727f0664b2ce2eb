"""The sandbox page refuses other origins (another port of this machine included) and cannot be framed."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page

from bot.sandbox import Sandbox

from .test_sandbox_page import sandbox_settings


async def test_every_answer_forbids_framing_sniffing_and_foreign_content(tmp_path: Path) -> None:
    async with Sandbox(sandbox_settings(tmp_path)) as sandbox, aiohttp.ClientSession() as http:
        port = sandbox.fake.port
        for path in ("/", "/static/app.js", "/sandbox/api/state", "/sandbox/api/nothing-here"):
            async with http.get(f"http://127.0.0.1:{port}{path}") as response:
                headers = response.headers
                assert headers["X-Frame-Options"] == "DENY", path
                assert headers["X-Content-Type-Options"] == "nosniff"
                assert headers["Referrer-Policy"] == "no-referrer"
                policy = dict(
                    part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
                )
                assert policy["frame-ancestors"] == "'none'"
                assert policy["default-src"] == "'self'"
                assert policy["script-src"] == "'self'"
                assert policy["connect-src"] == f"'self' ws://127.0.0.1:{port}"
                assert f"http://127.0.0.1:{port}" in policy["img-src"].split()
        # Opened as localhost, the page's websocket is allowed to that name.
        async with http.get(f"http://localhost:{port}/") as response:
            assert f"ws://localhost:{port}" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:{other}",  # another local port: a different site to a browser
        "http://localhost:{other}",
        "https://127.0.0.1:{port}",  # another scheme
        "http://127.0.0.1",  # port 80
        "http://evil.example:{port}",
        "null",
    ],
)
async def test_page_actions_from_another_origin_are_refused(tmp_path: Path, origin: str) -> None:
    async with Sandbox(sandbox_settings(tmp_path)) as sandbox, aiohttp.ClientSession() as http:
        port = sandbox.fake.port
        base = f"http://127.0.0.1:{port}"
        headers = {"Origin": origin.format(port=port, other=port + 1)}
        body = {"user": str(sandbox.world.admin.user.id), "text": "/help"}
        async with http.post(f"{base}/sandbox/api/command", json=body, headers=headers) as response:
            assert response.status == 403
            assert "cross-site request refused" in await response.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{base}/sandbox/ws?user={sandbox.world.admin.user.id}", headers=headers)
        assert refused.value.status == 403
        assert sandbox.fake.interactions == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_page_actions_from_the_page_itself_go_through(tmp_path: Path, host: str) -> None:
    async with Sandbox(sandbox_settings(tmp_path)) as sandbox, aiohttp.ClientSession() as http:
        base = f"http://{host}:{sandbox.fake.port}"
        body = {"user": str(sandbox.world.admin.user.id), "text": "/help"}
        async with http.post(f"{base}/sandbox/api/command", json=body, headers={"Origin": base}) as response:
            # No bot is connected in this test: the request passes the origin check and gets the sandbox's
            # own answer.
            assert response.status in (400, 503), await response.text()
        ws = await http.ws_connect(
            f"{base}/sandbox/ws?user={sandbox.world.admin.user.id}", headers={"Origin": base}
        )
        await ws.close()


async def test_another_site_cannot_frame_the_page_in_a_browser(page: Page, tmp_path: Path) -> None:
    async with Sandbox(sandbox_settings(tmp_path)) as sandbox:
        target = f"http://127.0.0.1:{sandbox.fake.port}/"

        async def framing_page(request: web.Request) -> web.Response:
            return web.Response(text=f'<iframe id="f" src="{target}"></iframe>', content_type="text/html")

        app = web.Application()
        app.router.add_get("/", framing_page)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            await page.goto(f"http://localhost:{port}/")
            await page.wait_for_load_state("load")
            (frame,) = [f for f in page.frames if f is not page.main_frame]
            # The browser refuses to show the sandbox inside another site: an error page, not the channel.
            assert frame.url != target
            assert await frame.locator('[data-testid="prompt"]').count() == 0
        finally:
            await runner.cleanup()
