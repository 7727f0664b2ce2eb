"""The tools under an upscaled image, through the real discord.py client against the fake Discord:
Upscale (Subtle|Creative), Zoom Out 2x/1.5x/Custom, Pan, Make Square and Vary (Region) — each a charged job
posted as a reply — their refusals (nothing charged), and the buttons after a restart."""

from __future__ import annotations

from bot.sandbox.fake_discord import CallbackType
from tests.e2e.harness import World, decode

GRID_LABELS = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
TOOL_ROWS = [
    ["Upscale (Subtle)", "Upscale (Creative)"],
    ["Vary (Subtle)", "Vary (Strong)", "Vary (Region)"],
    ["Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom"],
    ["⬅️", "➡️", "⬆️", "⬇️"],
]


def _rows(message: object) -> list[list[str]]:
    rows = []
    for row in message.components:  # type: ignore[attr-defined]
        rows.append([str(b.get("label") or b.get("emoji", {}).get("name")) for b in row["components"]])
    return rows


def _modal_labels(opened: object) -> list[str]:
    """The labels of a modal's inputs, in order."""
    labels = []
    for row in opened.modal["components"]:  # type: ignore[attr-defined]
        if row.get("type") == 18:
            labels.append(row.get("label"))
        else:
            labels += [component.get("label") for component in row.get("components", [])]
    return labels


async def _upscale(world: World, prompt: str, tile: str = "U1"):  # type: ignore[no-untyped-def]
    grid = await world.wait_result(await world.imagine(world.alice, prompt))
    await world.fake.click(world.alice, grid, tile)
    return grid, await world.wait_reply_result(grid, label="Vary (Region)")


async def test_the_tools_under_an_upscale_make_charged_jobs_from_its_tile(world: World) -> None:
    await world.start_bot()
    grid, upscale = await _upscale(world, "a blue square --seed 100")
    assert _rows(upscale) == TOOL_ROWS, "a square tile: no Make Square"
    tile = decode(grid.attachments[0].data).width // 2  # 64 px
    grid_job = await world.job_for(grid)
    quota = await world.quota()

    async def remaining() -> int:
        return (await quota.status(world.guild.id, world.alice.id)).remaining  # type: ignore[return-value]

    # Upscale (Subtle): twice the tile, posted with the same tools.
    before = await remaining()
    click = await world.fake.click(world.alice, upscale, "Upscale (Subtle)")
    assert (await click.wait_acked(timeout=3)).type == CallbackType.DEFERRED_UPDATE_MESSAGE
    subtle = await world.wait_reply_result(upscale, label="Upscale (Creative)")
    assert "Upscaled (Subtle) by" in subtle.content
    assert decode(subtle.attachments[0].data).size == (2 * tile, 2 * tile)
    subtle_job = await world.job_for(subtle)
    assert (subtle_job.kind, subtle_job.params["mode"]) == ("upscale", "subtle")
    assert (subtle_job.parent_job_id, subtle_job.parent_tile) == (grid_job.id, 1)
    assert await remaining() == before - 1

    # Zoom Out 2x: a new grid of four at the tile's size.
    await world.fake.click(world.alice, upscale, "Zoom Out 2x")
    zoom = await world.wait_reply_result(upscale, label="V1")
    assert zoom.button_labels == GRID_LABELS and "Zoom Out by" in zoom.content
    assert decode(zoom.attachments[0].data).size == (2 * tile, 2 * tile)
    zoom_job = await world.job_for(zoom)
    assert (zoom_job.kind, zoom_job.params["zoom"], zoom_job.parent_tile) == ("zoom", 2.0, 1)

    # ⬅️: the tile extended by half its width to the left.
    await world.fake.click(world.alice, upscale, "⬅️")
    pan = await world.fake.wait_for_message(
        lambda m: m.reference is upscale and m.attachments and "Pan Left by" in m.content, 60
    )
    assert decode(pan.attachments[0].data).size == (2 * (tile + tile // 2), 2 * tile)
    assert (await world.job_for(pan)).params["direction"] == "left"

    # 🔄 on the pan grid pans again from the same tile, with new seeds.
    await world.fake.click(world.alice, pan, "🔄")
    again = await world.wait_reply_result(pan, label="V1")
    again_job = await world.job_for(again)
    assert again_job.kind == "pan" and again_job.seeds != (await world.job_for(pan)).seeds

    # Remix off (the default): Vary (Region) asks only for the regions, Custom Zoom only for the factor.
    opened = await world.fake.click(world.alice, upscale, "Vary (Region)")
    assert (await opened.wait_acked(timeout=3)).type == CallbackType.MODAL
    assert _modal_labels(opened) == ["Regions to redraw (3×3 grid)"]
    await world.fake.submit_modal(world.alice, opened, {"cells": ["1", "5"]})
    region = await world.fake.wait_for_message(
        lambda m: m.reference is upscale and m.attachments and "Variations (Region) by" in m.content, 60
    )
    region_job = await world.job_for(region)
    assert (region_job.kind, region_job.params["regions"]) == ("region", [1, 5])
    assert region_job.params["prompt"] == "a blue square", "the image's prompt is kept"

    # A bad factor charges nothing.
    before = await remaining()
    opened = await world.fake.click(world.alice, upscale, "Custom Zoom")
    assert (await opened.wait_acked(timeout=3)).type == CallbackType.MODAL
    assert _modal_labels(opened) == ["Zoom factor (1–2)"]
    refused = await world.fake.submit_modal(world.alice, opened, {"Zoom factor (1–2)": "3"})
    await refused.wait_acked(timeout=3)
    await world.fake.wait_for(
        lambda: refused.followups or (refused.original and refused.original.ephemeral), 10
    )
    assert await remaining() == before

    # Remix on (/settings): both forms show the prompt to edit.
    panel = await world.fake.slash(world.alice, world.channel, "settings")
    await panel.wait_acked(timeout=5)
    assert panel.original is not None
    await world.fake.click(world.alice, panel.original, "Remix mode")
    await world.fake.wait_for(lambda: "Remix on" in panel.original.content, 5)  # type: ignore[union-attr]
    opened = await world.fake.click(world.alice, upscale, "Vary (Region)")
    await opened.wait_acked(timeout=3)
    assert _modal_labels(opened) == ["Regions to redraw (3×3 grid)", "Prompt for those regions"]
    opened = await world.fake.click(world.alice, upscale, "Custom Zoom")
    await opened.wait_acked(timeout=3)
    assert _modal_labels(opened) == ["Prompt", "Zoom factor (1–2)"]
    await world.fake.submit_modal(
        world.alice, opened, {"Prompt": "a blue square far away", "Zoom factor (1–2)": "1.7"}
    )
    custom = await world.fake.wait_for_message(
        lambda m: m.reference is upscale and m.attachments and "a blue square far away" in m.content, 60
    )
    custom_job = await world.job_for(custom)
    assert (custom_job.kind, custom_job.params["zoom"]) == ("zoom", 1.7)
    assert await remaining() == before - 1


async def test_make_square_pan_limits_and_buttons_after_a_restart(world: World) -> None:
    await world.start_bot()
    _, upscale = await _upscale(world, "a red circle --ar 4:1 --seed 3", "U2")
    assert "Make Square" in upscale.button_labels
    quota = await world.quota()
    before = (await quota.status(world.guild.id, world.alice.id)).remaining

    # Panning a 4:1 image sideways would pass the aspect limit: refused privately, nothing charged.
    refused = await world.fake.click(world.alice, upscale, "➡️")
    message = await world.fake.wait_for(lambda: refused.followups[0] if refused.followups else None, 10)
    assert message.ephemeral and "beyond the 4:1 aspect limit" in message.content
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before

    # After a restart the old buttons still work: Make Square gives a grid of square tiles.
    await world.stop_bot()
    await world.start_bot()
    await world.fake.click(world.alice, upscale, "Make Square")
    square = await world.wait_reply_result(upscale, label="V1")
    image = decode(square.attachments[0].data)
    assert image.width == image.height
    assert (await world.job_for(square)).kind == "square"
