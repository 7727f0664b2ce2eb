"""What goes wrong on the way: gateway drops, restarts, Discord throttling and errors, expired tokens, and
engine failures all end with the user told, and nothing double-charged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.fake_discord import CallbackType
from tests.e2e.harness import ErrorLog, GatedEngine, World, decode, real_engine


@pytest.fixture
async def gated(world: World) -> AsyncIterator[GatedEngine]:
    engine = GatedEngine(real_engine(world.settings))
    try:
        yield engine
    finally:
        await world.stop_bot()
        await engine.close()


async def test_a_gateway_disconnect_mid_job_still_delivers_the_result(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    interaction = await world.imagine(world.alice, "a storm at sea")
    await world.fake.wait_for(lambda: gated.started, 10)
    await world.fake.drop_gateway(resumable=True)
    gated.gate.set()
    grid = await world.wait_result(interaction)
    assert "U1" in grid.button_labels
    await world.fake.wait_for(lambda: world.fake.gateway_connected, 15)

    # A session Discord refuses to resume: discord.py identifies again and the bot keeps answering.
    await world.fake.drop_gateway(resumable=False)
    await world.fake.wait_for(lambda: world.fake.gateway_connected, 15)
    after = await world.imagine(world.bob, "calm water")
    await after.wait_acked(timeout=5)
    assert "U1" in (await world.wait_result(after)).button_labels


async def test_a_button_on_a_grid_from_before_a_restart_still_works(world: World) -> None:
    await world.start_bot()
    grid = await world.wait_result(await world.imagine(world.alice, "an old map --seed 11"))
    old_job = await world.job_for(grid)
    await world.stop_bot()

    await world.start_bot()
    click = await world.fake.click(world.bob, grid, "U1")
    await click.wait_acked(timeout=3)
    upscale = await world.wait_reply_result(grid, label="Vary (Strong)")
    job = await world.job_for(upscale)
    assert (job.parent_job_id, job.parent_tile, job.user_id) == (old_job.id, 1, world.bob.id)
    assert decode(upscale.attachments[0].data).width > decode(grid.attachments[0].data).width // 2


async def test_discord_429_and_500_on_follow_ups_are_retried(world: World) -> None:
    await world.start_bot()
    throttled = world.fake.inject_error("PATCH", r"^/webhooks/", 429, retry_after=0.3)
    failing = world.fake.inject_error("PATCH", r"^/webhooks/", 500)
    interaction = await world.imagine(world.alice, "a rainy street")
    grid = await world.wait_result(interaction)
    assert throttled.hits == 1 and failing.hits == 1
    assert "U1" in grid.button_labels and grid.attachments
    job = await world.job_for(grid)
    assert job.status == "succeeded"

    # A button's job posts with the bot token: a 429 there is retried as well.
    channel_throttle = world.fake.inject_error("POST", r"^/channels/\d+/messages", 429, retry_after=0.2)
    await world.fake.click(world.alice, grid, "U3")
    await world.wait_reply_result(grid, label="Vary (Subtle)")
    assert channel_throttle.hits == 1


async def test_a_result_after_the_token_expired_is_posted_with_the_bot_token(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    interaction = await world.imagine(world.alice, "a slow sunrise")
    await world.fake.wait_for(
        lambda: gated.started and interaction.original and not interaction.original.loading
    )
    interaction.expire_token()
    gated.gate.set()
    original = interaction.original
    assert original is not None
    result = await world.wait_reply_result(original, label="U1")
    assert result.webhook_id is None and result.author.bot and f"<@{world.alice.id}>" in result.content
    job = await world.job_for(result)
    assert job.status == "succeeded"
    assert "U1" not in original.button_labels  # the old message was never turned into a second grid


async def test_an_engine_failure_reaches_the_user_and_is_refunded(
    world: World, error_log: ErrorLog, tmp_path: Path
) -> None:
    # A model folder whose files look right (so the job is accepted) but whose weights are missing.
    broken = tmp_path / "no-such-weights"
    broken.mkdir()
    (broken / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}'
    )
    await world.start_bot(engine_model=str(broken))
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)
    interaction = await world.imagine(world.alice, "a cat")
    ack = await interaction.wait_acked(timeout=3)
    assert ack.type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    failed = await world.wait_result(interaction)
    assert "(Failed: " in failed.content and "could not be loaded" in failed.content
    assert "Traceback" not in failed.content and not failed.attachments
    job = await world.job_for(failed)
    assert job.status == "failed" and job.error and "could not be loaded" in job.error
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before.remaining


async def test_discord_refusing_the_result_fails_the_job_with_a_message_and_a_refund(
    world: World, gated: GatedEngine, error_log: ErrorLog
) -> None:
    error_log.allow("posting with the bot token failed (HTTP 403")  # logged, then the user is told
    await world.start_bot(engine=gated)
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)
    interaction = await world.imagine(world.alice, "a forbidden picture")
    await world.fake.wait_for(
        lambda: gated.started and interaction.original and not interaction.original.loading
    )
    world.fake.inject_error("PATCH", r"^/webhooks/", 403, times=1000)  # the interaction webhook stops working
    refused = world.fake.inject_error(
        "POST", r"^/channels/\d+/messages", 403
    )  # and so does the result's upload
    gated.gate.set()
    notice = await world.fake.wait_for_message(
        lambda m: "(Failed: Discord did not accept the result" in m.content, 20, channel=world.channel
    )
    assert refused.hits == 1 and not notice.attachments
    job = await world.job_for(interaction.original)  # type: ignore[arg-type]
    assert job.status == "failed"
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before.remaining
