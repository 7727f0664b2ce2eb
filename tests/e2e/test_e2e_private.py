"""Private replies (``/settings``): a user's jobs live in ephemeral messages, their buttons make private
results too, a server admin can forbid it, and a private result never falls back to a public message: when
its ephemeral message is out of reach, the owner is told in a direct message (or, DMs closed, not at all)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.fake_discord import CallbackType, InteractionRecord, Message
from tests.e2e.harness import GatedEngine, World, real_engine


@pytest.fixture
async def gated(world: World) -> AsyncIterator[GatedEngine]:
    engine = GatedEngine(real_engine(world.settings))
    try:
        yield engine
    finally:
        await world.stop_bot()
        await engine.close()


async def _answer(interaction: InteractionRecord) -> Message:
    await interaction.wait_acked(timeout=5)
    message = interaction.original
    assert message is not None
    return message


async def _dm_about(world: World, job_id: int) -> Message:
    """The bot's DM to Alice about job ``job_id``, checked to be private and inert."""
    dm = world.fake.open_dm(world.alice)
    message = await world.fake.wait_for_message(lambda m: f"#{job_id}" in m.content, 30, channel=dm)
    assert message.author.bot and not message.pinged and not message.pinged_everyone
    assert world.guild.name in message.content and "nothing was charged" in message.content
    # Only in the DM: no message of any guild channel mentions the job.
    assert [
        m for m in world.fake.messages() if m.channel.guild is not None and f"#{job_id}" in m.content
    ] == []
    return message


def _public_images(world: World) -> list[Message]:
    """Messages in the channel that everyone sees and that carry an image."""
    return [m for m in world.fake.messages(world.channel, viewer=world.bob) if m.attachments]


async def _toggle(world: World, panel: Message, label: str, shown: str) -> None:
    await world.fake.click(world.alice if "Your" in panel.content else world.admin, panel, label)
    await world.fake.wait_for(lambda: shown in panel.content, 5)


async def test_private_replies_stay_ephemeral_through_buttons_and_an_admin_can_forbid_them(
    world: World,
) -> None:
    await world.start_bot()
    panel = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    assert "private replies off" in panel.content
    await _toggle(world, panel, "Private replies", "private replies on")
    await _toggle(world, panel, "Quality server default ▸ 0.25", "--quality 0.25")  # one button cycles
    await _toggle(world, panel, "Quality 0.25 ▸ 0.5", "--quality 0.5")

    interaction = await world.imagine(world.alice, "a red circle --seed 5")
    ack = await interaction.wait_acked(timeout=5)
    assert ack.type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    grid = await world.wait_result(interaction)
    assert grid.ephemeral and grid.visible_for(world.alice) and not grid.visible_for(world.bob)
    assert grid.attachments and "U1" in grid.button_labels
    job = await world.job_for(grid)
    assert job.status == "succeeded" and job.params.get("private") is True and job.params["quality"] == 0.5

    # The buttons under an ephemeral grid work, and what they make is private as well.
    await world.fake.click(world.alice, grid, "U2")
    upscale = await world.fake.wait_for_message(
        lambda m: m.ephemeral and m.attachments and "Vary (Subtle)" in m.button_labels,
        60,
        channel=world.channel,
    )
    assert not upscale.visible_for(world.bob)
    assert (await world.job_for(upscale)).params.get("private") is True
    assert _public_images(world) == []

    # A server admin forbids private replies: Alice's choice stays, but her jobs are public again.
    server = await _answer(await world.fake.slash(world.admin, world.channel, "settings", server=True))
    assert "private replies allowed" in server.content
    await _toggle(world, server, "Private replies allowed", "private replies not allowed")
    mine = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    assert "private replies off (not allowed here)" in mine.content
    public = await world.wait_result(await world.imagine(world.alice, "a blue square"))
    assert not public.ephemeral and public.visible_for(world.bob) and public.attachments
    assert "private" not in (await world.job_for(public)).params


async def test_a_private_result_after_the_token_expired_is_refunded_never_posted_publicly(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    panel = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    await _toggle(world, panel, "Private replies", "private replies on")
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)

    interaction = await world.imagine(world.alice, "a slow <@&1> *red* circle --seed 77")
    await world.fake.wait_for(
        lambda: gated.started and interaction.original and not interaction.original.loading
    )
    waiting = interaction.original
    assert waiting is not None and waiting.ephemeral
    interaction.expire_token()
    gated.gate.set()

    # The DM is sent once the job is failed (refunded): wait for it, then look at the job.
    dm = await _dm_about(world, (await world.job_for(waiting, finished=False)).id)
    job = await world.job_for(waiting)
    assert job.status == "failed" and job.error is not None and "15 minutes" in job.error
    after = await quota.status(world.guild.id, world.alice.id)
    assert after.remaining == before.remaining  # refunded
    assert "15-minute window" in dm.content and "`--seed 77`" in dm.content
    assert "<@&1>" not in dm.content and "\\*red\\*" in dm.content  # the prompt is echoed inert
    assert _public_images(world) == []  # never posted where others can see it
    assert all(m.ephemeral for m in world.fake.messages(world.channel) if str(job.id) in m.content)


async def test_a_private_result_discord_refuses_is_refunded_and_the_owner_told_in_a_dm(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    panel = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    await _toggle(world, panel, "Private replies", "private replies on")
    interaction = await world.imagine(world.alice, "a slow green triangle")
    await world.fake.wait_for(
        lambda: gated.started and interaction.original and not interaction.original.loading
    )
    waiting = interaction.original
    assert waiting is not None
    refusal = world.fake.inject_error("PATCH", r"^/webhooks/.*/messages/@original", 400, times=20)
    gated.gate.set()

    dm = await _dm_about(world, (await world.job_for(waiting, finished=False)).id)
    assert "Discord refused to show it privately" in dm.content and refusal.hits >= 1
    assert (await world.job_for(waiting)).status == "failed"
    assert _public_images(world) == []


async def test_a_private_result_with_dms_closed_is_refunded_and_nothing_is_posted_anywhere(
    world: World, gated: GatedEngine
) -> None:
    world.alice.user.dms_closed = True
    await world.start_bot(engine=gated)
    panel = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    await _toggle(world, panel, "Private replies", "private replies on")
    interaction = await world.imagine(world.alice, "a slow blue square")
    await world.fake.wait_for(
        lambda: gated.started and interaction.original and not interaction.original.loading
    )
    waiting = interaction.original
    assert waiting is not None
    interaction.expire_token()
    gated.gate.set()

    await world.fake.wait_for(
        lambda: any(r.method == "POST" and r.status == 403 for r in world.fake.requests), 30
    )
    assert (await world.job_for(waiting)).status == "failed"  # refunded all the same
    refused = [r for r in world.fake.requests if r.method == "POST" and r.status == 403]
    assert len(refused) == 1  # the DM was tried once, refused (50007), and not replaced by anything
    assert world.fake.messages(world.fake.open_dm(world.alice)) == []
    assert _public_images(world) == []
    assert [m for m in world.fake.messages(world.channel, viewer=world.bob) if m.author.bot] == []


async def test_a_private_job_interrupted_by_a_restart_is_refunded_not_resumed_in_public(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    panel = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    await _toggle(world, panel, "Private replies", "private replies on")
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)
    interaction = await world.imagine(world.alice, "a red circle")
    await world.fake.wait_for(
        lambda: gated.started and interaction.original and not interaction.original.loading
    )
    waiting = interaction.original
    assert waiting is not None and waiting.ephemeral
    await world.stop_bot()  # the running job is requeued, then the next start finds it private

    await world.start_bot()
    job = await world.job_for(waiting)
    assert job.status == "failed" and job.error is not None and "restarted" in job.error
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before.remaining
    dm = await _dm_about(world, job.id)
    assert "interrupted by a bot restart" in dm.content and "a red circle" in dm.content
    assert _public_images(world) == []
    assert [m for m in world.fake.messages(world.channel, viewer=world.bob) if m.author.bot] == []
