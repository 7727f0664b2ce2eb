"""Results are recorded before they are posted (the outbox): a U press the moment a grid appears works, and a
bot killed between recording, posting and recording the message posts the result after a restart without
rendering it again and never twice."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.db.models import Reservation
from bot.imagine._cog import NOT_FINISHED
from bot.sandbox.fake_discord import InteractionRecord, Message
from tests.e2e.harness import (
    GatedEngine,
    World,
    real_engine,
    remove_file,
    start_bot_process,
    stored_file,
)

PROMPT = "a lighthouse at dusk --seed 3"


def _grids(world: World) -> list[Message]:
    return [m for m in world.fake.messages(world.channel) if m.attachments and "U1" in m.button_labels]


async def test_a_u_press_the_moment_the_grid_appears_is_accepted(world: World) -> None:
    await world.start_bot(engine_preview_every=0)
    # The grid reaches Discord, and the bot does not hear back until the test lets it: nothing the bot
    # does after posting can help the button.
    posted = world.fake.hold("PATCH", r"^/webhooks/", multipart=True, apply=True)
    interaction = await world.imagine(world.alice, PROMPT)
    await asyncio.wait_for(posted.reached.wait(), 60)
    grid = interaction.original
    assert grid is not None and grid.attachments and "U2" in grid.button_labels

    click = await world.fake.click(world.bob, grid, "U2")
    await click.wait_acked(timeout=3)
    upscale = await world.wait_reply_result(grid, label="Vary (Subtle)", timeout=90)
    assert "Image #2" in upscale.content
    refusals = [m for m in world.fake.messages(world.channel) if NOT_FINISHED in m.content]
    assert refusals == []
    posted.release()

    job = await world.job_for(grid)
    assert job.status == "succeeded"
    assert await _wait_posted(world, job.id)


async def test_a_result_that_reached_discord_despite_a_network_error_is_kept(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Discord applies the edit that posts the grid, then the connection drops before the bot hears back:
    # the grid and its buttons are there, so the job is posted and charged, not failed and refunded.
    await world.start_bot(engine_preview_every=0)
    quota = await world.quota()
    full = (await quota.status(world.guild.id, world.alice.id)).remaining
    posted = world.fake.hold("PATCH", r"^/webhooks/", multipart=True, apply=True)
    interaction = await world.imagine(world.alice, PROMPT)
    await asyncio.wait_for(posted.reached.wait(), 60)
    posted.release(drop=True)
    grid = interaction.original
    assert grid is not None and "U2" in grid.button_labels
    job = await world.job_for(grid)
    assert await _wait_posted(world, job.id)
    assert "reached Discord despite the error" in caplog.text
    job = await world.job_for(grid)
    assert job.status == "succeeded" and job.message_id == grid.id
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == full - 1
    assert "U2" in grid.button_labels and "Failed" not in grid.content
    click = await world.fake.click(world.bob, grid, "U2")  # and its buttons work
    await click.wait_acked(timeout=3)
    await world.wait_reply_result(grid, label="Vary (Subtle)", timeout=90)


async def _wait_posted(world: World, job_id: int) -> bool:
    store = await world.jobs()
    deadline = asyncio.get_running_loop().time() + 90
    while asyncio.get_running_loop().time() < deadline:
        job = await store.get_job(job_id)
        if job is not None and job.posted_at is not None:
            return True
        await asyncio.sleep(0.05)
    return False


async def _start_bot_process(world: World) -> asyncio.subprocess.Process:
    return await start_bot_process(world, output=False, ENGINE_PREVIEW_EVERY="0", PROGRESS_INTERVAL_S="0.2")


async def _kill_while_held(world: World, *, applied: bool, token_expires: bool = False) -> InteractionRecord:
    """Run ``/imagine`` in a bot process and kill it (SIGKILL) when its result's upload is held: before
    Discord saw it (``applied=False``) or after Discord applied it, before the bot heard back. With
    ``token_expires`` the interaction's token dies at once: the result goes out as a new channel message."""
    if token_expires:
        held = world.fake.hold("POST", r"^/channels/\d+/messages", multipart=True, apply=applied)
    else:
        held = world.fake.hold("PATCH", r"^/webhooks/", multipart=True, apply=applied)
    process = await _start_bot_process(world)
    try:
        await world.fake.wait_for(
            lambda: world.fake.gateway_connected and world.fake.commands(world.guild), 120
        )
        interaction = await world.imagine(world.alice, PROMPT)
        if token_expires:
            await interaction.wait_acked(timeout=5)
            interaction.expire_token()
        await asyncio.wait_for(held.reached.wait(), 120)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    held.release(drop=True)
    await world.fake.wait_for(lambda: not world.fake.gateway_connected, 30)
    return interaction


async def _restart_and_wait_posted(world: World, job_id: int) -> GatedEngine:
    engine = GatedEngine(real_engine(world.settings))
    engine.gate.set()
    await world.start_bot(engine=engine)
    await _wait_posted(world, job_id)
    return engine


async def _check_posted_once(world: World, job_id: int, engine: GatedEngine, charged: int | None) -> None:
    store = await world.jobs()
    job = await store.get_job(job_id)
    assert job is not None and job.status == "succeeded" and job.posted_at is not None
    assert engine.started == [], "a recorded result must not be rendered again"
    grids = _grids(world)
    assert len(grids) == 1 and grids[0].id == job.message_id, [m.content for m in grids]
    assert grids[0].button_labels == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    assert grids[0].attachments[0].data == stored_file(job.grid_path)  # the recorded grid, as PNG
    async with (await world.db()).reader() as session:
        reservation = await session.scalar(select(Reservation.status).where(Reservation.job_id == job_id))
    assert reservation == "committed"
    # Charged once: neither refunded nor charged again by the restart.
    assert (await (await world.quota()).status(world.guild.id, world.alice.id)).remaining == charged
    assert await store.ready_to_post() == [] and await store.unfinished_jobs() == []

    # The buttons work, and a second restart posts nothing again.
    click = await world.fake.click(world.bob, grids[0], "U2")
    await click.wait_acked(timeout=3)
    await world.wait_reply_result(grids[0], label="Vary (Subtle)", timeout=90)
    await world.stop_bot()
    await world.start_bot(engine=engine)
    await asyncio.sleep(1)
    assert len(_grids(world)) == 1


async def test_killed_after_recording_before_posting_the_restart_posts_it_once(world: World) -> None:
    interaction = await _kill_while_held(world, applied=False)
    charged = (await (await world.quota()).status(world.guild.id, world.alice.id)).remaining
    ready = await (await world.jobs()).ready_to_post()
    assert len(ready) == 1 and ready[0].posted_at is None
    original = interaction.original
    assert original is not None and not original.attachments and _grids(world) == []

    engine = await _restart_and_wait_posted(world, ready[0].id)
    try:
        await world.wait_result(interaction, 90)
        await _check_posted_once(world, ready[0].id, engine, charged)
    finally:
        await world.stop_bot()
        await engine.close()


async def test_killed_after_posting_before_recording_the_message_the_restart_does_not_post_twice(
    world: World,
) -> None:
    interaction = await _kill_while_held(world, applied=True)
    charged = (await (await world.quota()).status(world.guild.id, world.alice.id)).remaining
    ready = await (await world.jobs()).ready_to_post()
    assert len(ready) == 1
    assert len(_grids(world)) == 1  # on Discord already; the bot died before it heard back

    engine = await _restart_and_wait_posted(world, ready[0].id)
    try:
        assert interaction.original is not None
        await _check_posted_once(world, ready[0].id, engine, charged)
    finally:
        await world.stop_bot()
        await engine.close()


async def test_a_network_error_while_acknowledging_gives_back_the_slot_and_the_credit(world: World) -> None:
    await world.start_bot(max_jobs_per_user=1)
    quota = await world.quota()
    full = (await quota.status(world.guild.id, world.alice.id)).remaining
    dropped = world.fake.inject_disconnect("POST", r"^/interactions/\d+/[^/]+/callback")
    lost = await world.imagine(world.alice, "a lost message")
    await world.fake.wait_for(lambda: dropped.hits == 1, 5)
    store = await world.jobs()
    for _ in range(200):
        if await store.user_active_jobs(world.alice.id) == [] and (
            (await quota.status(world.guild.id, world.alice.id)).remaining == full
        ):
            break
        await asyncio.sleep(0.05)
    assert await store.user_active_jobs(world.alice.id) == []
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == full
    assert lost.original is None  # Discord never heard from the bot about it

    # Her one slot is free again: the next /imagine runs.
    grid = await world.wait_result(await world.imagine(world.alice, "a found message"), 90)
    assert "U1" in grid.button_labels


async def test_killed_after_posting_a_new_message_the_restart_finds_it_and_posts_nothing(
    world: World,
) -> None:
    interaction = await _kill_while_held(world, applied=True, token_expires=True)
    charged = (await (await world.quota()).status(world.guild.id, world.alice.id)).remaining
    ready = await (await world.jobs()).ready_to_post()
    assert len(ready) == 1
    grids = _grids(world)
    assert len(grids) == 1 and grids[0] is not interaction.original  # a new message: the token had expired
    revisions = len(grids[0].revisions)

    engine = await _restart_and_wait_posted(world, ready[0].id)
    try:
        assert len(grids[0].revisions) == revisions  # found and recorded, not sent again
        await _check_posted_once(world, ready[0].id, engine, charged)
    finally:
        await world.stop_bot()
        await engine.close()


async def test_a_recorded_result_whose_files_are_gone_is_failed_and_refunded_at_restart(world: World) -> None:
    interaction = await _kill_while_held(world, applied=False)
    quota = await world.quota()
    charged = (await quota.status(world.guild.id, world.alice.id)).remaining
    ready = await (await world.jobs()).ready_to_post()
    assert len(ready) == 1 and ready[0].grid_path is not None
    remove_file(ready[0].grid_path)

    engine = GatedEngine(real_engine(world.settings))
    engine.gate.set()
    try:
        await world.start_bot(engine=engine)
        failed = await world.wait_result(interaction, 90)
        assert "(Failed: The images of this job are no longer available" in failed.content
        job = await (await world.jobs()).get_job(ready[0].id)
        assert job is not None and job.status == "failed" and engine.started == []
        assert (await quota.status(world.guild.id, world.alice.id)).remaining == charged + 1  # type: ignore[operator]
        assert _grids(world) == []
    finally:
        await world.stop_bot()
        await engine.close()
