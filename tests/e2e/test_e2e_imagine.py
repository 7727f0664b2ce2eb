"""/imagine through the real discord.py client: acknowledgement, progress, the grid and its buttons."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from bot.sandbox.fake_discord import CallbackType
from tests.e2e.harness import World, decode, stored_file

GRID_LABELS = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]


async def test_imagine_shows_progress_then_a_grid_with_nine_buttons(
    world: World, many_steps_model: Path
) -> None:
    await world.start_bot(engine_model=str(many_steps_model), progress_interval_s=0.1)
    interaction = await world.imagine(world.alice, "a red   circle --ar 1:1 --seed 7 --chaos 10")
    ack = await interaction.wait_acked(timeout=3)
    assert ack.type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert interaction.ack_latency is not None and interaction.ack_latency < 3

    grid = await world.wait_result(interaction)
    assert not grid.ephemeral
    assert grid.content.startswith("**a red circle --chaos 10 --seed 7** - <@")
    assert f"<@{world.alice.id}>" in grid.content
    assert grid.button_labels == GRID_LABELS
    assert [row["components"][0]["label"] for row in grid.components] == ["U1", "V1"]
    assert all(re.fullmatch(r"ib1:[a-z]+:\d+(:\d)?", b["custom_id"]) for b in grid.buttons)

    # The message went through "waiting"/progress states before the result: percentages with previews.
    states = [revision.content for revision in grid.revisions]
    assert any(re.search(r"\((Waiting to start|\d{1,2}%)\)", state) for state in states), states
    progress = [r for r in grid.revisions if re.search(r"\(\d{1,2}%\)", r.content)]
    previews = [r for r in progress if r.attachments]
    assert len(previews) >= 2, "progress edits should carry preview images"
    decode(previews[0].attachments[0].data)
    # Throttled: progress edits at least the configured interval apart. (A revision's `at` is when it was
    # replaced, so the edit that wrote revision i happened at revision i-1's `at`.)
    revisions = grid.revisions
    written = [revisions[i - 1].at for i, r in enumerate(revisions) if i and r in progress]
    gaps = [b - a for a, b in itertools.pairwise(written)]
    assert gaps and min(gaps) >= 0.09, gaps

    # The grid decodes to a 2×2 of the engine's tiles; the full-size tiles are on disk.
    image = decode(grid.attachments[0].data)
    job = await world.job_for(grid)
    assert job.status == "succeeded" and job.kind == "imagine" and job.user_id == world.alice.id
    assert job.seeds == [7, 8, 9, 10]
    store = await world.jobs()
    tiles = [await store.get_image(job.id, n) for n in (1, 2, 3, 4)]
    assert all(tile is not None for tile in tiles)
    decoded = [decode(stored_file(tile.path)) for tile in tiles if tile is not None]
    assert {d.format for d in decoded} == {"PNG"}
    first = decoded[0]
    assert image.size == (2 * first.width, 2 * first.height)
    assert decode(stored_file(job.grid_path)).size == image.size


async def test_buttons_upscale_vary_and_reroll_as_new_messages(world: World) -> None:
    await world.start_bot()
    grid = await world.wait_result(await world.imagine(world.alice, "a blue square --seed 100"))
    grid_revisions = len(grid.revisions)
    grid_job = await world.job_for(grid)
    tile = decode(grid.attachments[0].data).width // 2

    # U2, pressed by someone else: a new message replying to the grid, an upscale larger than a tile,
    # charged to the presser.
    quota = await world.quota()
    alice_before = (await quota.status(world.guild.id, world.alice.id)).remaining
    bob_before = (await quota.status(world.guild.id, world.bob.id)).remaining
    click = await world.fake.click(world.bob, grid, "U2")
    ack = await click.wait_acked(timeout=3)
    assert ack.type == CallbackType.DEFERRED_UPDATE_MESSAGE
    upscale = await world.wait_reply_result(grid, label="Vary (Subtle)")
    assert upscale.button_labels[:5] == [
        "Upscale (Subtle)",
        "Upscale (Creative)",
        "Vary (Subtle)",
        "Vary (Strong)",
        "Vary (Region)",
    ]
    assert "Image #2" in upscale.content and f"<@{world.bob.id}>" in upscale.content
    big = decode(upscale.attachments[0].data)
    assert big.width > tile and big.height > tile
    upscale_job = await world.job_for(upscale)
    assert upscale_job.kind == "upscale" and upscale_job.user_id == world.bob.id
    assert (upscale_job.parent_job_id, upscale_job.parent_tile) == (grid_job.id, 2)
    assert upscale_job.seeds == [grid_job.seeds[1]]  # type: ignore[index]
    assert (await quota.status(world.guild.id, world.bob.id)).remaining == bob_before - 1  # type: ignore[operator]
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == alice_before

    # V3: a new grid of four variations of tile 3.
    await world.fake.click(world.alice, grid, "V3")
    variations = await world.wait_reply_result(grid, label="V1")
    assert variations.button_labels == GRID_LABELS
    assert "Variations (Strong)" in variations.content
    assert decode(variations.attachments[0].data).size == decode(grid.attachments[0].data).size
    variation_job = await world.job_for(variations)
    assert (variation_job.kind, variation_job.parent_tile) == ("variation", 3)

    # 🔄: the same prompt with new seeds.
    await world.fake.click(world.alice, grid, "🔄")
    reroll = await world.fake.wait_for_message(
        lambda m: m.reference is grid and m.attachments and "U1" in m.button_labels and m is not variations,
        30,
    )
    reroll_job = await world.job_for(reroll)
    assert reroll_job.kind == "reroll" and reroll_job.params["prompt"] == "a blue square"
    assert reroll_job.seeds != grid_job.seeds

    # Vary (Subtle) under the upscale: variations of the tile it was made from.
    await world.fake.click(world.alice, upscale, "Vary (Subtle)")
    subtle = await world.wait_reply_result(upscale, label="V1")
    subtle_job = await world.job_for(subtle)
    assert subtle_job.params["strength"] == "subtle"
    assert (subtle_job.parent_job_id, subtle_job.parent_tile) == (grid_job.id, 2)

    # The grid itself was never replaced or edited by any of this.
    assert len(grid.revisions) == grid_revisions and grid.button_labels == GRID_LABELS


async def test_bad_parameters_are_refused_ephemerally_and_charge_nothing(world: World) -> None:
    await world.start_bot()
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)
    interaction = await world.imagine(world.alice, "a cat --chaos 250")
    ack = await interaction.wait_acked(timeout=3)
    assert ack.type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE
    refusal = interaction.original
    assert refusal is not None and refusal.ephemeral
    assert "`--chaos`" in refusal.content and "0 to 100" in refusal.content
    assert refusal.visible_for(world.alice) and not refusal.visible_for(world.bob)

    unknown = await world.imagine(world.alice, "a cat --weird 3")
    await unknown.wait_acked(timeout=3)
    assert unknown.original is not None and "`--weird`" in unknown.original.content

    after = await quota.status(world.guild.id, world.alice.id)
    assert after.remaining == before.remaining
    assert await (await world.jobs()).user_active_jobs(world.alice.id) == []
