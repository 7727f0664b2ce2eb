"""/describe (an upload, and the Describe entry on a posted image) and honest hints, on the shipped model
through the real discord.py client; a model without a describer refuses /describe and charges nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.sandbox.fake_discord import InteractionRecord, Message
from engine.training import shapes
from tests.e2e.harness import World

MODEL = Path(__file__).resolve().parents[2] / "engine" / "models" / "default"
shipped = pytest.mark.skipif(not (MODEL / "clip" / "config.json").exists(), reason="no shipped model")


def _png(colour: str, shape: str, background: str) -> bytes:
    buffer = io.BytesIO()
    shapes.render(shapes.make_scene(colour, shape, "large", "center", background), 256).save(buffer, "PNG")
    return buffer.getvalue()


async def _settled(world: World, interaction: InteractionRecord) -> Message:
    """The interaction's answer once it is no longer "thinking"."""

    def ready() -> Message | None:
        message = interaction.original
        return message if message is not None and not message.loading else None

    found: Message = await world.fake.wait_for(ready, 30)
    return found


async def _remaining(world: World, member: object) -> int:
    status = await (await world.quota()).status(world.guild.id, member.id)  # type: ignore[attr-defined]
    assert status.remaining is not None
    return status.remaining


@shipped
async def test_describe_gives_four_prompts_whose_buttons_start_imagine(world: World) -> None:
    await world.start_bot(engine_model="default")
    fake, alice = world.fake, world.alice
    await fake.slash(world.admin, world.channel, "quota", "cost", action="describe", credits=2)
    before = await _remaining(world, alice)

    upload = fake.upload("shape.png", _png("blue", "square", "white"))
    answer = await _settled(world, await fake.slash(alice, world.channel, "describe", image=upload))
    assert not answer.ephemeral and answer.content.startswith("**Describe**")
    prompts = [line.split("** ", 1)[1] for line in answer.content.splitlines()[1:]]
    assert len(prompts) == 4 and len(set(prompts)) == 4
    assert shapes.parse_caption(prompts[0])["colour"] == "blue"
    assert shapes.parse_caption(prompts[0])["shape"] == "square"
    assert answer.button_labels == ["1", "2", "3", "4"]
    assert await _remaining(world, alice) == before - 2  # costs like an action, set by /quota cost

    # Button 1, pressed by Bob: /imagine with that prompt, charged to Bob.
    bob_before = await _remaining(world, world.bob)
    grid = await world.wait_result(await fake.click(world.bob, answer, "1"))
    job = await world.job_for(grid)
    assert job.kind == "imagine" and job.user_id == world.bob.id and job.params["prompt"] == prompts[0]
    assert await _remaining(world, world.bob) == bob_before - 1

    # The Describe entry on a posted image: an upscale is described; a grid asks for a tile first.
    await fake.click(alice, grid, "U1")
    upscale = await world.wait_reply_result(grid, label="Vary (Subtle)")
    described = await _settled(world, await fake.message_command(alice, upscale, "Describe"))
    assert described.button_labels == ["1", "2", "3", "4"]
    refused = await _settled(world, await fake.message_command(alice, grid, "Describe"))
    assert refused.ephemeral and "upscale one" in refused.content

    # Not an image: refused, nothing charged. After a restart the old buttons still work.
    before = await _remaining(world, alice)
    text = fake.upload("notes.txt", b"hello", "text/plain")
    refused = await _settled(world, await fake.slash(alice, world.channel, "describe", image=text))
    assert refused.ephemeral and "PNG, JPEG or WebP" in refused.content
    assert await _remaining(world, alice) == before
    await world.stop_bot()
    await world.start_bot(engine_model="default")
    again = await world.wait_result(await fake.click(alice, answer, "2"))
    assert (await world.job_for(again)).params["prompt"] == prompts[1]


@shipped
async def test_a_prompt_the_model_has_no_word_for_gets_a_hint_and_is_charged_only_if_confirmed(
    world: World,
) -> None:
    await world.start_bot(engine_model="default")
    fake, alice = world.fake, world.alice
    before = await _remaining(world, alice)
    hint = await _settled(world, await world.imagine(alice, "a lighthouse at dusk --ar 3:2"))
    assert hint.ephemeral and "draws coloured shapes" in hint.content
    assert "`a large red circle on a blue background`" in hint.content
    assert hint.button_labels == ["Draw it anyway"]
    assert await _remaining(world, alice) == before
    assert await (await world.jobs()).user_active_jobs(alice.id) == []

    grid = await world.wait_result(await fake.click(alice, hint, "Draw it anyway"))
    job = await world.job_for(grid)
    assert job.params["prompt"] == "a lighthouse at dusk" and job.params["aspect"] == [3, 2]
    assert await _remaining(world, alice) == before - 1
    gone = await fake.click(alice, hint, "Draw it anyway")  # a held prompt starts once
    await gone.wait_acked(timeout=5)
    assert any("no longer waiting" in m.content for m in gone.messages)

    # A prompt with a word the model knows goes straight through.
    grid = await world.wait_result(await world.imagine(alice, "a red lighthouse"))
    assert (await world.job_for(grid)).params["prompt"] == "a red lighthouse"


async def test_describe_without_a_describer_is_refused_and_charges_nothing(world: World) -> None:
    await world.start_bot()  # the tiny test model has no CLIP of its own and ENGINE_DESCRIBER is unset
    before = await _remaining(world, world.alice)
    upload = world.fake.upload("shape.png", _png("red", "circle", "blue"))
    refused = await _settled(
        world, await world.fake.slash(world.alice, world.channel, "describe", image=upload)
    )
    assert (
        refused.ephemeral
        and "ENGINE_DESCRIBER" in refused.content
        and "Nothing was charged" in refused.content
    )
    assert await _remaining(world, world.alice) == before
    assert await (await world.jobs()).unfinished_jobs() == []
