"""Starting and stopping: ``python -m bot`` end to end, SIGTERM, and clear errors for a bad token."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.runner import StartupError, bot_token, run_bot
from tests.e2e.harness import World, start_bot_process


def test_a_missing_or_malformed_token_is_a_clear_start_up_error(world: World) -> None:
    with pytest.raises(StartupError, match="DISCORD_TOKEN is not set"):
        bot_token(world.settings.model_copy(update={"discord_token": None}))
    with pytest.raises(StartupError, match="DISCORD_TOKEN is empty"):
        bot_token(world.settings.model_copy(update={"discord_token": SecretStr("  ")}))
    with pytest.raises(StartupError, match="malformed") as error:
        bot_token(world.settings.model_copy(update={"discord_token": SecretStr("Bot abc.def")}))
    assert "abc.def" not in str(error.value)


async def test_an_unusable_database_url_stops_start_up_with_a_clear_error(world: World) -> None:
    settings = world.settings.model_copy(update={"database_url": "mysql://bot:hunter2@db/images"})
    with pytest.raises(StartupError, match="DATABASE_URL uses 'mysql'") as error:
        await asyncio.wait_for(run_bot(settings), 60)
    assert "hunter2" not in str(error.value)


async def test_an_upscaler_folder_that_is_no_model_stops_start_up_with_a_clear_error(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings.model_copy(update={"engine_upscaler": str(tmp_path)})
    with pytest.raises(
        StartupError, match=r"ENGINE_UPSCALER .* is a folder without a diffusers model_index\.json"
    ):
        await asyncio.wait_for(run_bot(settings), 60)


async def test_an_unknown_engine_dtype_stops_start_up_with_one_line(world: World) -> None:
    settings = world.settings.model_copy(update={"engine_dtype": "fp8"})
    with pytest.raises(StartupError, match=r"^ENGINE_DTYPE `fp8` is not one of auto, fp32, fp16, bf16\.$"):
        await asyncio.wait_for(run_bot(settings), 60)


async def test_a_token_discord_rejects_stops_start_up_without_logging_it(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-token-1234567890"
    settings = world.settings.model_copy(update={"discord_token": SecretStr(wrong)})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StartupError, match="rejected DISCORD_TOKEN"):
        await asyncio.wait_for(run_bot(settings), 60)
    assert wrong not in caplog.text


async def test_python_m_bot_serves_imagine_and_stops_on_sigterm(world: World) -> None:
    process = await start_bot_process(
        world, PROGRESS_INTERVAL_S="0.2", LOG_LEVEL="DEBUG", OMP_NUM_THREADS=None
    )
    output = asyncio.create_task(process.stdout.read())  # type: ignore[union-attr]
    try:
        await world.fake.wait_for(
            lambda: world.fake.gateway_connected and world.fake.commands(world.guild), 90
        )
        grid = await world.wait_result(await world.imagine(world.alice, "a process on its own"), 60)
        assert "U1" in grid.button_labels
        started = asyncio.get_running_loop().time()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 25)
        assert asyncio.get_running_loop().time() - started < 20
        assert code == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = (await output).decode(errors="replace")
    assert world.fake.token not in log
    assert world.fake.interactions and all(i.token not in log for i in world.fake.interactions)
    assert "stopping" in log
