"""What a new user sees in the log of ``python -m bot``: one clear line per stage, no library noise."""

from __future__ import annotations

import asyncio
import signal

from tests.e2e.harness import World, start_bot_process

NOISE = (
    "Context impl",  # alembic's plugin lines
    "Will assume non-transactional DDL",
    "PyNaCl",  # discord.py's voice warning
    "davey",
    "voice will NOT be supported",
    "config attributes",  # diffusers' per-load config warnings
    "were passed to",
    "is deprecated",
    "Traceback",
)


async def test_the_log_of_a_start_and_a_job_has_one_line_per_stage_and_no_library_noise(
    world: World,
) -> None:
    process = await start_bot_process(world, LOG_LEVEL=None)
    output = asyncio.create_task(process.stdout.read())  # type: ignore[union-attr]
    try:
        await world.fake.wait_for(
            lambda: world.fake.gateway_connected and world.fake.commands(world.guild), 90
        )
        grid = await world.wait_result(await world.imagine(world.alice, "a quiet log"), 60)
        assert "U1" in grid.button_labels
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 25) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = (await output).decode(errors="replace").splitlines()
    assert [line for line in lines if any(noise in line for noise in NOISE)] == []
    assert not [line for line in lines if "alembic" in line or " WARNING " in line or " ERROR " in line]
    stages = (
        "database ready (sqlite, schema created at ",
        "synced ",
        "has connected to Gateway",
        "job 1 (imagine) accepted",
        "job 1 (imagine) for user",
        "job 1 posted in",
        "stopping",
    )
    for stage in stages:
        assert len([line for line in lines if stage in line]) == 1, (stage, lines)
